/**
 * `deno task cluster`: N processes on one machine share the HTTP port (SO_REUSEPORT), each with
 * its own port and media ports, in one Redis directory it starts itself; a publisher and players
 * reaching any process through the shared port get media; Ctrl-C (SIGINT) stops everything.
 */
import assert from "node:assert/strict";
import { Player, Publisher } from "../helpers/clients.ts";
import { freePortRange } from "../helpers/cluster.ts";
import { mintToken } from "../../src/auth/tokens.ts";

const SECRET = "cluster-task-secret-0123456789-abcdefghij";

Deno.test({
  name: "deno task cluster: two processes share the HTTP port; media flows whichever answers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // the shared HTTP port and each process's own (PORT+1, PORT+2); media ports UDP/TCP +0, +1
    const port = await freePortRange(3);
    const media = await freePortRange(2, true);
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "cluster", "--", "--processes", "2"],
      cwd: new URL("../../", import.meta.url).pathname,
      env: {
        PORT: String(port),
        HOST: "127.0.0.1",
        UDP_PORT: String(media),
        TCP_PORT: String(media),
        JWT_SECRET: SECRET,
        ICE_LOOPBACK: "true",
        LOG_LEVEL: "warn",
        MAX_PARTICIPANTS: "10",
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let text = "";
    const pump = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s.pipeThrough(new TextDecoderStream())) text += chunk;
    };
    pump(child.stdout).catch(() => {});
    pump(child.stderr).catch(() => {});
    const clients: (Publisher | Player)[] = [];
    try {
      const deadline = performance.now() + 30_000;
      while ((text.match(/SFU listening on/g) ?? []).length < 2) {
        assert.ok(performance.now() < deadline, `the cluster did not start:\n${text}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const url = `http://127.0.0.1:${port}`;
      // new connections land on either process (SO_REUSEPORT): both answer on the shared port
      const nodes = new Set<string>();
      for (let i = 0; i < 40 && nodes.size < 2; i++) {
        const client = Deno.createHttpClient({});
        const health = await (await fetch(`${url}/healthz`, { client })).json();
        client.close();
        nodes.add(health.node);
      }
      assert.deepEqual([...nodes].sort(), ["node0", "node1"]);
      const token = (sub: string, role: "host" | "viewer") =>
        mintToken(new TextEncoder().encode(SECRET), { sub, room: "one", role, ttlSeconds: 600 });
      const publisher = new Publisher();
      clients.push(publisher);
      await publisher.publish(`${url}/whip/one`, await token("host", "host"));
      publisher.start(30);
      for (let i = 0; i < 4; i++) {
        const player = new Player();
        clients.push(player);
        await player.play(`${url}/whep/one`, await token(`v${i}`, "viewer"));
      }
      await Promise.all(clients.slice(1).map((p) => (p as Player).nextKeyframe(10_000)));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      try {
        child.kill("SIGINT");
      } catch {
        // it exited by itself: its status and output say why
      }
      const status = await child.status;
      assert.equal(status.code, 0, text);
    }
  },
});
