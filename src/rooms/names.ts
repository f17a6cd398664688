/**
 * Room names: 1 to 64 characters of Unicode letters, digits, emoji, `-`, `_` or `.`,
 * NFC-normalised; never only dots (so `.` and `..` cannot pose as path segments).
 *
 * @module
 */
import { DomainError } from "../errors.ts";

const ALLOWED =
  /^[\p{L}\p{M}\p{N}\p{Extended_Pictographic}\p{Emoji_Modifier}\p{Regional_Indicator}\u200d\ufe0f._-]+$/u;

/** At least one letter, digit or emoji: no name of dots, joiners or combining marks alone. */
const VISIBLE = /[\p{L}\p{N}\p{Extended_Pictographic}\p{Regional_Indicator}]/u;

/** Returns the NFC form of a valid room name, or throws `bad-room-name` (400). */
export function roomName(raw: string): string {
  const name = raw.normalize("NFC");
  const length = [...name].length;
  if (length < 1 || length > 64) {
    throw new DomainError("bad-room-name", `a room name has 1 to 64 characters, not ${length}`);
  }
  if (!ALLOWED.test(name) || !VISIBLE.test(name)) {
    throw new DomainError(
      "bad-room-name",
      "a room name is made of letters, digits, emoji, '-', '_' and '.' only",
    );
  }
  return name;
}
