/**
 * File names of recordings: room and publisher names are Unicode (emoji included) and may hold
 * anything a token's `sub` holds, so they are percent-encoded down to `A-Z a-z 0-9 _ -` (no
 * `.`, no `/`: a name can never be `..` or reach outside its folder), and long ones are cut and
 * made unique with a hash, so that a file name stays under the usual 255-byte limit.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, resolve, sep } from "node:path";

/** Longest encoded part of a file name, before it is cut and hashed. */
const MAX_PART = 96;

/** `name` as a safe file-name part: percent-encoded UTF-8, at most ~{@link MAX_PART} bytes. */
export function safePart(name: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(name.normalize("NFC"))) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  if (out.length <= MAX_PART) return out || "_";
  const hash = createHash("sha256").update(name).digest("hex").slice(0, 16);
  let cut = out.slice(0, MAX_PART - 17);
  cut = cut.replace(/%[0-9A-F]?$/, ""); // never half an escape
  return `${cut}~${hash}`;
}

/** A new recording id: 16 hex digits. */
export function newRecordingId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 16);
}

/** True when `id` has the form of a recording id. */
export function isRecordingId(id: string): boolean {
  return /^[0-9a-f]{16}$/.test(id);
}

/** The folder of `room`'s recordings inside `dir`. */
export function roomFolder(dir: string, room: string): string {
  return inside(dir, join(resolve(dir), safePart(room)));
}

/** The file name of a recording: start time (UTC), publisher, id. */
export function recordingFileName(publisher: string, id: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${stamp}_${safePart(publisher)}_${id}.webm`;
}

/** `path` when it lies inside `dir`; throws otherwise (never expected: names are encoded). */
export function inside(dir: string, path: string): string {
  const root = resolve(dir);
  const full = resolve(path);
  if (!full.startsWith(root + sep)) throw new Error(`${path} is outside ${dir}`);
  return full;
}
