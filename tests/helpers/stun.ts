/** STUN messages for tests. */
import { createHmac } from "node:crypto";

/** A Binding request for `ufrag` signed with `password` (or with a wrong one). */
export function bindingRequest(ufrag: string, password: string): Uint8Array {
  const username = new TextEncoder().encode(`${ufrag}:evil`);
  const userPadded = (username.length + 3) & ~3;
  const length = 4 + userPadded + 24;
  const m = new Uint8Array(20 + length);
  const v = new DataView(m.buffer);
  v.setUint16(0, 0x0001);
  v.setUint16(2, length);
  v.setUint32(4, 0x2112a442);
  crypto.getRandomValues(m.subarray(8, 20));
  v.setUint16(20, 0x0006);
  v.setUint16(22, username.length);
  m.set(username, 24);
  const mi = 24 + userPadded;
  v.setUint16(mi, 0x0008);
  v.setUint16(mi + 2, 20);
  m.set(createHmac("sha1", password).update(m.subarray(0, mi)).digest(), mi + 4);
  return m;
}
