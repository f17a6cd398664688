import assert from "node:assert/strict";
import { DomainError } from "../../src/errors.ts";
import { roomName } from "../../src/rooms/names.ts";

const rejects = (raw: string) =>
  assert.throws(
    () => roomName(raw),
    (e: unknown) => {
      assert.ok(e instanceof DomainError, `${JSON.stringify(raw)}: not a DomainError`);
      assert.equal(e.code, "bad-room-name", JSON.stringify(raw));
      assert.ok(e.message.length > 0);
      return true;
    },
    `${JSON.stringify(raw)} should be refused`,
  );

Deno.test("roomName accepts", async (t) => {
  for (
    const [label, name] of [
      ["ASCII word", "demo"],
      ["all the allowed punctuation", "a-b_c.d"],
      ["an emoji", "🎸"],
      ["digits", "2024"],
      ["a 64-character name", "a".repeat(64)],
      ["Japanese letters", "日本語のへや"],
      ["katakana", "カラオケ"],
      ["a ZWJ sequence", "👩‍💻"],
      ["a flag (regional indicators)", "🇫🇷"],
      ["an emoji with a skin-tone modifier", "👍🏽"],
      ["an emoji with a variation selector", "❤️"],
      ["Greek and Cyrillic", "Αθήνα-Москва"],
      ["Arabic-Indic digits", "٣٤٥"],
      ["a leading dot with more after it", ".hidden"],
      ["dots among letters", "a..b"],
      ["mixed", "Café_🎸-2.0"],
    ]
  ) {
    await t.step(`${label}: ${name}`, () => {
      assert.equal(roomName(name), name);
    });
  }

  await t.step("Café in NFC and NFD gives the same NFC name", () => {
    const nfc = "Caf\u00e9";
    const nfd = "Cafe\u0301";
    assert.notEqual(nfc, nfd);
    assert.equal(roomName(nfc), nfc);
    assert.equal(roomName(nfd), nfc);
    assert.equal(roomName(nfd).length, 4);
  });

  await t.step("other compositions are normalised to NFC", () => {
    assert.equal(roomName("\u212b"), "\u00c5"); // ANGSTROM SIGN → Å
    assert.equal(roomName("n\u0303o"), "\u00f1o");
  });

  await t.step("the length is counted in characters (code points), not UTF-16 units", () => {
    const guitars = "🎸".repeat(64); // 128 UTF-16 units
    assert.equal(roomName(guitars), guitars);
    rejects("🎸".repeat(65));
  });

  await t.step("the length is counted after NFC normalisation", () => {
    // 128 code points in NFD, 64 in NFC.
    const nfd = "e\u0301".repeat(64);
    assert.equal(roomName(nfd), "\u00e9".repeat(64));
  });
});

Deno.test("roomName rejects with bad-room-name", async (t) => {
  for (
    const [label, name] of [
      ["empty", ""],
      ["65 characters", "a".repeat(65)],
      ["a slash", "a/b"],
      ["a backslash", "a\\b"],
      ["a space", "a b"],
      ["a leading space", " demo"],
      ["a trailing newline", "demo\n"],
      ["a tab", "a\tb"],
      ["a NUL", "a\u0000b"],
      ["a single dot", "."],
      ["two dots", ".."],
      ["three dots", "..."],
      ["a percent-encoded slash", "a%2F"],
      ["HTML", "<script>"],
      ["a question mark", "a?b"],
      ["a hash", "a#b"],
      ["a colon", "a:b"],
      ["a plus", "a+b"],
      ["a fullwidth solidus", "a\uff0fb"],
      ["a division slash", "a\u2215b"],
      ["a right-to-left override", "a\u202eb"],
    ]
  ) {
    await t.step(`${label}: ${JSON.stringify(name)}`, () => rejects(name));
  }
});
