import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { RtpHeader, RtpPacket, SrtpSession } from "werift";
import { openNative } from "../../src/media/native/libs.ts";
import {
  SRTP_AEAD_AES_128_GCM,
  SRTP_AES128_CM_HMAC_SHA1_80,
  SrtpProtector,
} from "../../src/media/native/srtp-protect.ts";

const native = openNative();

interface Context {
  srtpSessionKey: Uint8Array;
  srtpSessionSalt: Uint8Array;
  srtpSessionAuthTag: Uint8Array;
}

for (
  const [name, profile, saltLength] of [
    ["AEAD_AES_128_GCM", SRTP_AEAD_AES_128_GCM, 12],
    ["AES128_CM_HMAC_SHA1_80", SRTP_AES128_CM_HMAC_SHA1_80, 14],
  ] as const
) {
  Deno.test({
    name: `SrtpProtector (${name}) writes what werift writes and werift decrypts it`,
    ignore: !native.ok,
    fn() {
      if (!native.ok) return;
      const key = Buffer.from(crypto.getRandomValues(new Uint8Array(16)));
      const salt = Buffer.from(crypto.getRandomValues(new Uint8Array(saltLength)));
      const keys = {
        localMasterKey: key,
        localMasterSalt: salt,
        remoteMasterKey: key,
        remoteMasterSalt: salt,
      };
      const werift = new SrtpSession({ keys, profile });
      const receiver = new SrtpSession({ keys, profile });
      const ctx = (werift as unknown as { localContext: Context }).localContext;
      const protector = SrtpProtector.create(native.crypto, {
        profile,
        key: ctx.srtpSessionKey,
        salt: ctx.srtpSessionSalt,
        authKey: ctx.srtpSessionAuthTag,
      })!;
      assert.ok(protector);
      const ciphertext = new Uint8Array(1500);
      const tag = new Uint8Array(20);
      // sequence numbers across a wrap: the rollover counter is the caller's, werift keeps its own
      let roc = 0;
      for (const seq of [65_530, 65_533, 65_535, 0, 3]) {
        if (seq < 100) roc = 1;
        const payload = Buffer.from(crypto.getRandomValues(new Uint8Array(200 + seq % 900)));
        const header = new RtpHeader({
          payloadType: 96,
          sequenceNumber: seq,
          timestamp: 1234567 + seq,
          ssrc: 0xdeadbeef,
          marker: seq % 2 === 0,
        });
        const expected = werift.encrypt(payload, header);
        const hdr = header.serialize(header.serializeSize);
        assert.ok(
          protector.protect(hdr, hdr.length, payload, ciphertext, tag, 0xdeadbeef, roc, seq),
        );
        const ours = Buffer.concat([
          hdr,
          ciphertext.subarray(0, payload.length),
          tag.subarray(0, protector.tagLength),
        ]);
        assert.deepEqual(ours, expected, `seq ${seq}`);
        const clear = RtpPacket.deSerialize(receiver.decrypt(ours));
        assert.deepEqual(Buffer.from(clear.payload), payload);
        // in place, a prefix of the buffer: the same bytes
        const inPlace = new Uint8Array(1500);
        inPlace.set(payload);
        const tag2 = new Uint8Array(20);
        assert.ok(
          protector.protect(
            hdr,
            hdr.length,
            inPlace,
            inPlace,
            tag2,
            0xdeadbeef,
            roc,
            seq,
            payload.length,
          ),
        );
        assert.deepEqual(
          inPlace.subarray(0, payload.length),
          ciphertext.subarray(0, payload.length),
        );
        assert.deepEqual(tag2, tag);
      }
      protector.close();
    },
  });
}
