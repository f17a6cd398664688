/** DTLS record inspection for tests that drop or hold handshake datagrams. */

/** `dgram.Socket.prototype.emit`'s shape, for tests that wrap it. */
export type Emit = (this: object, event: string, ...rest: unknown[]) => boolean;

/** Whether `buf` holds a plaintext DTLS handshake record with a ClientKeyExchange (16). */
export function hasClientKeyExchange(buf: Uint8Array): boolean {
  for (let i = 0; i + 13 < buf.length; i += 13 + ((buf[i + 11] << 8) | buf[i + 12])) {
    const epoch = (buf[i + 3] << 8) | buf[i + 4];
    if (buf[i] === 22 && epoch === 0 && buf[i + 13] === 16) return true;
  }
  return false;
}
