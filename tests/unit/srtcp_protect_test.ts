/**
 * werift's SRTCP on OpenSSL (src/media/werift/srtcp.ts) writes the bytes werift's own code
 * writes, for both profiles, across SRTCP indexes that cross 16 bits and near the 31-bit end;
 * each side decrypts the other's packets, and a changed byte fails authentication.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  SrtcpSession,
} from "werift";
import { cipherPrototype, useNativeSrtcp } from "../../src/media/werift/srtcp.ts";
import { openNative } from "../../src/media/native/libs.ts";

const native = openNative();

for (const [name, profile] of [["AES128_CM_HMAC_SHA1_80", 1], ["AEAD_AES_128_GCM", 7]] as const) {
  Deno.test({
    name: `native SRTCP (${name}) writes what werift writes, and both read each other`,
    // CI has Linux, FFI and libcrypto: there this must run, not be skipped
    ignore: !native.ok && !Deno.env.get("CI"),
    fn() {
      assert.equal(useNativeSrtcp(), true);
      const original = (cipherPrototype(profile) as unknown as {
        __weriftSrtcp: {
          encryptRTCP(this: unknown, rtcp: Uint8Array, index: number): Uint8Array;
          decryptRTCP(this: unknown, srtcp: Uint8Array): [Uint8Array, unknown];
        };
      }).__weriftSrtcp;
      assert.ok(original, "werift's own methods are kept");
      const random = (n: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(n)));
      const k1 = random(16), s1 = random(14), k2 = random(16), s2 = random(14);
      const a = new SrtcpSession({
        keys: {
          localMasterKey: k1,
          localMasterSalt: s1,
          remoteMasterKey: k2,
          remoteMasterSalt: s2,
        },
        profile,
      }) as unknown as { localContext: { cipher: object } };
      const b = new SrtcpSession({
        keys: {
          localMasterKey: k2,
          localMasterSalt: s2,
          remoteMasterKey: k1,
          remoteMasterSalt: s1,
        },
        profile,
      }) as unknown as { remoteContext: { cipher: object } };
      const send = a.localContext.cipher as {
        encryptRTCP(rtcp: Uint8Array, index: number): Uint8Array;
      };
      const receive = b.remoteContext.cipher as {
        decryptRTCP(srtcp: Uint8Array): [Uint8Array, unknown];
      };
      const rtcp = Buffer.concat([
        new RtcpSrPacket({
          ssrc: 0x9abc_def0,
          senderInfo: new RtcpSenderInfo({
            ntpTimestamp: 0x1234_5678_9abc_def0n,
            rtpTimestamp: 0xfedc_ba98,
            packetCount: 1234,
            octetCount: 5_678_901,
          }),
        }).serialize(),
        new RtcpSourceDescriptionPacket({
          chunks: [
            new SourceDescriptionChunk({
              source: 0x9abc_def0,
              items: [new SourceDescriptionItem({ type: 1, text: "sfu-cname" })],
            }),
          ],
        }).serialize(),
      ]);
      for (const index of [1, 2, 0xffff, 0x1_0000, 0x1_2345, 0x7fff_fffe]) {
        const ours = send.encryptRTCP(rtcp, index);
        const theirs = original.encryptRTCP.call(send, rtcp, index);
        assert.deepEqual(new Uint8Array(ours), new Uint8Array(theirs), `index ${index}`);
        assert.deepEqual(new Uint8Array(receive.decryptRTCP(ours)[0]), new Uint8Array(rtcp));
        assert.deepEqual(
          new Uint8Array(original.decryptRTCP.call(receive, ours)[0]),
          new Uint8Array(rtcp),
        );
        for (const at of [2, 12, ours.length - 1]) {
          const forged = Buffer.from(ours);
          forged[at] ^= 0x01;
          assert.throws(
            () => receive.decryptRTCP(forged),
            (e: Error) => e.name === "SrtpAuthenticationError", // werift drops these, quietly
            `byte ${at} changed`,
          );
        }
      }
      assert.throws(
        () => receive.decryptRTCP(rtcp.subarray(0, 12)),
        (e: Error) => e.name === "SrtpAuthenticationError",
        "a cut packet is dropped like a forged one",
      );
    },
  });
}
