/**
 * The little of STUN (RFC 8489) that the shared media ports need before a datagram reaches a
 * session: is it a Binding request, whose local ufrag its USERNAME names, and is its
 * MESSAGE-INTEGRITY right for that ufrag's password. Plus a Binding request and its
 * XOR-MAPPED-ADDRESS, to ask a STUN server once at start which public address the shared port
 * has. werift parses STUN too, but only after a datagram has been given to a session, and its
 * parser builds an object per attribute; this reads the bytes in place.
 *
 * @module
 */
import { createHmac, timingSafeEqual } from "node:crypto";

const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const USERNAME = 0x0006;
const MESSAGE_INTEGRITY = 0x0008;
const XOR_MAPPED_ADDRESS = 0x0020;
const MAPPED_ADDRESS = 0x0001;
const HEADER = 20;

/** True when `data` has a STUN header (first two bits zero, the magic cookie, a sane length). */
export function isStun(data: Uint8Array): boolean {
  if (data.length < HEADER || data[0] > 3) return false;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return view.getUint32(4) === MAGIC_COOKIE && view.getUint16(2) + HEADER === data.length &&
    (view.getUint16(2) & 3) === 0;
}

/** STUN message type of a datagram that {@link isStun} accepted. */
function messageType(data: Uint8Array): number {
  return (data[0] << 8) | data[1];
}

/** Offset of the first attribute of `type` (its header), or -1. */
function findAttribute(data: Uint8Array, type: number): number {
  let at = HEADER;
  while (at + 4 <= data.length) {
    const t = (data[at] << 8) | data[at + 1];
    const length = (data[at + 2] << 8) | data[at + 3];
    if (at + 4 + length > data.length) return -1;
    if (t === type) return at;
    at += 4 + ((length + 3) & ~3);
  }
  return -1;
}

/**
 * The local ufrag a Binding request is for (the part of its USERNAME before `:`), or undefined
 * when `data` is not a Binding request with a USERNAME.
 */
export function requestUfrag(data: Uint8Array): string | undefined {
  if (!isStun(data) || messageType(data) !== BINDING_REQUEST) return undefined;
  const at = findAttribute(data, USERNAME);
  if (at < 0) return undefined;
  const length = (data[at + 2] << 8) | data[at + 3];
  const username = new TextDecoder().decode(data.subarray(at + 4, at + 4 + length));
  const colon = username.indexOf(":");
  return colon > 0 ? username.slice(0, colon) : undefined;
}

/**
 * Whether the message's MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) is right for the
 * short-term credential `password`. A message without one is not.
 */
export function hasIntegrity(data: Uint8Array, password: string): boolean {
  const at = findAttribute(data, MESSAGE_INTEGRITY);
  if (at < 0 || ((data[at + 2] << 8) | data[at + 3]) !== 20) return false;
  const signed = new Uint8Array(data.subarray(0, at));
  const length = at + 24 - HEADER; // the length as if MESSAGE-INTEGRITY ended the message
  signed[2] = length >> 8;
  signed[3] = length & 0xff;
  const mac = createHmac("sha1", password).update(signed).digest();
  return timingSafeEqual(mac, data.subarray(at + 4, at + 24));
}

/** A Binding request with a fresh transaction ID and no attributes (for a STUN server). */
export function bindingRequest(): { bytes: Uint8Array; transactionId: Uint8Array } {
  const bytes = new Uint8Array(HEADER);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, BINDING_REQUEST);
  view.setUint32(4, MAGIC_COOKIE);
  const transactionId = crypto.getRandomValues(new Uint8Array(12));
  bytes.set(transactionId, 8);
  return { bytes, transactionId };
}

/**
 * The IPv4 address and port a Binding success response to `transactionId` reports
 * (XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an old server), or undefined.
 */
export function mappedAddress(
  data: Uint8Array,
  transactionId: Uint8Array,
): [string, number] | undefined {
  if (!isStun(data) || messageType(data) !== BINDING_SUCCESS) return undefined;
  for (let i = 0; i < 12; i++) if (data[8 + i] !== transactionId[i]) return undefined;
  let xor = true;
  let at = findAttribute(data, XOR_MAPPED_ADDRESS);
  if (at < 0) {
    xor = false;
    at = findAttribute(data, MAPPED_ADDRESS);
  }
  if (at < 0 || data[at + 5] !== 1 || ((data[at + 2] << 8) | data[at + 3]) < 8) return undefined;
  const mask = xor ? [0x21, 0x12, 0xa4, 0x42] : [0, 0, 0, 0];
  const port = ((data[at + 6] ^ mask[0]) << 8) | (data[at + 7] ^ mask[1]);
  const ip = [0, 1, 2, 3].map((i) => data[at + 8 + i] ^ mask[i]).join(".");
  return [ip, port];
}
