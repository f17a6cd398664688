/**
 * Client addresses and budgets (issue 15.4), on a real server with real sockets bound to
 * loopback addresses: `Forwarded` / `X-Forwarded-For` are ignored from untrusted sockets and
 * honoured (right-most untrusted hop) from `TRUSTED_PROXIES`; refused requests spend a separate
 * per-address budget, so anonymous junk cannot lock out the host.
 */
import assert from "node:assert/strict";
import { TEST_SECRET, testServer } from "../helpers/server.ts";
import { mintToken } from "../../src/auth/tokens.ts";

const secret = new TextEncoder().encode(TEST_SECRET);
const hostToken = (room: string) =>
  mintToken(secret, { sub: "host", room, role: "host", ttlSeconds: 600 });

/** `n` PUTs of the room from `client` with extra headers; their statuses. */
async function puts(
  url: string,
  bearer: string | undefined,
  n: number,
  client: Deno.HttpClient,
  headers: (i: number) => Record<string, string> = () => ({}),
): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(url, {
      method: "PUT",
      headers: { ...headers(i), ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}) },
      client,
    });
    if (res.status === 429) assert.ok(Number(res.headers.get("Retry-After")) >= 1);
    await res.body?.cancel();
    statuses.push(res.status);
  }
  return statuses;
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

Deno.test("forwarding headers: ignored from untrusted sockets, honoured from trusted proxies", async (t) => {
  const proxy = Deno.createHttpClient({ localAddress: "127.0.0.1" });
  const stranger = Deno.createHttpClient({ localAddress: "127.0.0.3" });
  try {
    await t.step("no TRUSTED_PROXIES: a forged header does not buy a fresh budget", async () => {
      const server = await testServer({ RATE_LIMIT_IP: "60" }); // bursts of 10
      try {
        const url = `${server.url}/rooms/p`;
        const statuses = await puts(url, await hostToken("p"), 15, proxy, (i) => ({
          "X-Forwarded-For": `198.51.100.${i}`,
          "Forwarded": `for=198.51.100.${i}`,
        }));
        assert.equal(count(statuses, 429), 5, `${statuses}`);
      } finally {
        await server.shutdown();
      }
    });

    await t.step("a trusted proxy's hops are the clients; others' headers are not", async () => {
      const server = await testServer({
        RATE_LIMIT_IP: "60",
        TRUSTED_PROXIES: "127.0.0.1, 10.0.0.0/8, fd00::/8",
      });
      try {
        const url = `${server.url}/rooms/p`;
        const host = await hostToken("p");
        // 15 clients behind the proxy, one request each: none is limited.
        const many = await puts(url, host, 15, proxy, (i) => ({
          "X-Forwarded-For": `203.0.113.${i}`,
        }));
        assert.equal(count(many, 429), 0, `${many}`);
        // The right-most untrusted hop counts: a forged left-most entry, then a trusted hop.
        const one = await puts(url, host, 15, proxy, (i) => ({
          "X-Forwarded-For": `192.0.2.${i}, 198.51.100.7, 10.1.2.3`,
        }));
        assert.equal(count(one, 429), 5, `${one}`);
        // Forwarded (RFC 7239) too, IPv6 in brackets with a port; one /64 is one client.
        const v6 = await puts(url, host, 15, proxy, (i) => ({
          "Forwarded": `for="[2001:db8:1:2::${i + 1}]:4711";proto=https, for=10.0.0.9`,
        }));
        assert.equal(count(v6, 429), 5, `${v6}`);
        const v6other = await puts(url, host, 3, proxy, () => ({
          "Forwarded": `for="[2001:db8:9:9::1]"`,
        }));
        assert.equal(count(v6other, 429), 0, `${v6other}`);
        // A socket that is not a trusted proxy: its headers are ignored, its own address counts.
        const forged = await puts(url, host, 15, stranger, (i) => ({
          "X-Forwarded-For": `203.0.113.${100 + i}`,
        }));
        assert.equal(count(forged, 429), 5, `${forged}`);
      } finally {
        await server.shutdown();
      }
    });
  } finally {
    proxy.close();
    stranger.close();
  }
});

Deno.test("anonymous junk spends its own budget and does not lock out the host", async (t) => {
  const client = Deno.createHttpClient({ localAddress: "127.0.0.4" });
  const proxy = Deno.createHttpClient({ localAddress: "127.0.0.1" });
  try {
    await t.step("from the same address as the host", async () => {
      const server = await testServer({ RATE_LIMIT_IP: "60", RATE_LIMIT_FAILED: "60" });
      try {
        const url = `${server.url}/rooms/j`;
        const junk = await puts(url, undefined, 20, client);
        assert.equal(count(junk, 401), 10, `${junk}`);
        assert.equal(count(junk, 429), 10, `${junk}`);
        const bad = await puts(url, "not.a.token", 3, client);
        assert.deepEqual(bad, [429, 429, 429]);
        const wrongRoom = await puts(url, await hostToken("elsewhere"), 2, client);
        assert.deepEqual(wrongRoom, [429, 429], "403s spend the failed budget too");
        // The host, from the very same address, still gets through.
        const host = await puts(url, await hostToken("j"), 5, client);
        assert.deepEqual(host, [201, 200, 200, 200, 200]);
      } finally {
        await server.shutdown();
      }
    });

    await t.step("behind a trusted proxy, per forwarded client", async () => {
      const server = await testServer({
        RATE_LIMIT_IP: "60",
        RATE_LIMIT_FAILED: "60",
        TRUSTED_PROXIES: "127.0.0.1",
      });
      try {
        const url = `${server.url}/rooms/j`;
        const junk = await puts(
          url,
          undefined,
          15,
          proxy,
          () => ({ "X-Forwarded-For": "6.6.6.6" }),
        );
        assert.equal(count(junk, 429), 5, `${junk}`);
        // Another client behind the same proxy: its own failed budget is untouched.
        const other = await puts(
          url,
          undefined,
          1,
          proxy,
          () => ({ "X-Forwarded-For": "7.7.7.7" }),
        );
        assert.deepEqual(other, [401]);
        const host = await puts(url, await hostToken("j"), 3, proxy, () => ({
          "X-Forwarded-For": "6.6.6.6",
        }));
        assert.deepEqual(host, [201, 200, 200]);
      } finally {
        await server.shutdown();
      }
    });
  } finally {
    client.close();
    proxy.close();
  }
});
