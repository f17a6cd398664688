/** DTLS record inspection for tests that drop or hold handshake datagrams, and their scenario. */
import assert from "node:assert/strict";
import { spawnServer } from "./process.ts";
import { Player, Publisher } from "./clients.ts";

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

/**
 * The scenario of the DTLS handshake tests: the server as its own process, a werift publisher,
 * then two werift players in `room`, each after `arm()` (the test's datagram tap takes its
 * handshake), each of which must connect and get media. A player that does not is named with
 * its connection state.
 */
export async function twoPlayersConnect(room: string, arm: () => void): Promise<void> {
  const server = await spawnServer();
  const publisher = new Publisher();
  const players: Player[] = [];
  try {
    const host = await server.token("host", room);
    await publisher.publish(`${server.url}/whip/${room}`, host);
    publisher.start(30);
    for (let i = 0; i < 2; i++) {
      const player = new Player();
      players.push(player);
      arm();
      await player.play(`${server.url}/whep/${room}`, host).catch(() => {
        throw new Error(`player ${i} still ${player.pc.connectionState} after 10 s`);
      });
      await player.nextKeyframe(5000).catch(() => {
        throw new Error(`player ${i} (${player.pc.connectionState} on its side) got no keyframe`);
      });
      assert.ok(player.received.video > 0, `player ${i} gets media`);
    }
  } finally {
    await Promise.all([publisher.close(), ...players.map((p) => p.close())]);
    await server.stop();
  }
}
