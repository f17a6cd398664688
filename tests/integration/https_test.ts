/**
 * HTTPS with `TLS_CERT_FILE` / `TLS_KEY_FILE`: a self-signed certificate made by the `openssl` CLI
 * in a temporary folder, a real server on it. GET /healthz and a WHIP POST (a real Chromium
 * offer) over https, plain http to the HTTPS port closed without harm, the listener's headers
 * timeout and connection cap over TLS, and a certificate or key that cannot serve stopping the
 * start with one sentence that names the variable.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config.ts";
import { testServer } from "../helpers/server.ts";

const offer = Deno.readTextFileSync(new URL("../fixtures/chromium-publish.sdp", import.meta.url));

/** A self-signed certificate for 127.0.0.1 and localhost (and a second key) in a temp folder. */
async function selfSigned(): Promise<{ dir: string; cert: string; key: string; other: string }> {
  const dir = await Deno.makeTempDir({ prefix: "sfu-tls-" });
  const cert = `${dir}/cert.pem`, key = `${dir}/key.pem`, other = `${dir}/other.pem`;
  const run = async (args: string[]) => {
    const { code, stderr } = await new Deno.Command("openssl", { args, stdout: "null" }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  };
  // CA:FALSE: rustls (Deno's fetch) refuses a CA certificate as a server's own
  await run([
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=localhost",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-keyout",
    key,
    "-out",
    cert,
  ]);
  await run(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", other]);
  return { dir, cert, key, other };
}

/** Reads from a raw connection until it closes; resolves with what came, or "timeout". */
async function readToEnd(conn: Deno.Conn, ms: number): Promise<string> {
  const buffer = new Uint8Array(4096);
  let text = "";
  const timer = setTimeout(() => conn.close(), ms);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
    }
    return text;
  } catch {
    return text; // reset, or closed by the timer
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

Deno.test("HTTPS: health and WHIP over https, plain http refused cleanly", async (t) => {
  const files = await selfSigned();
  const server = await testServer({ TLS_CERT_FILE: files.cert, TLS_KEY_FILE: files.key });
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(files.cert)] });
  try {
    const url = new URL(server.url);
    await t.step("the server's URL says https", () => {
      assert.equal(url.protocol, "https:");
    });

    await t.step(
      "GET /healthz over https (the certificate verified, by IP and by name)",
      async () => {
        for (const base of [server.url, `https://localhost:${url.port}`]) {
          const res = await fetch(`${base}/healthz`, { client });
          assert.equal(res.status, 200, base);
          await res.body?.cancel();
        }
      },
    );

    await t.step(
      "a WHIP POST with a real Chromium offer: 201; the room's event stream",
      async () => {
        const token = await server.token("alice", "tls");
        const res = await fetch(`${server.url}/whip/tls`, {
          client,
          method: "POST",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/sdp" },
          body: offer,
        });
        const answer = await res.text();
        assert.equal(res.status, 201, answer);
        assert.match(answer, /^v=0/);
        assert.ok(res.headers.get("Location"), "a session URL");
        // the room's event stream (Server-Sent Events) over the same TLS listener
        const stream = await fetch(`${server.url}/rooms/tls/events`, {
          client,
          headers: { Authorization: `Bearer ${token}` },
        });
        assert.equal(stream.status, 200);
        assert.match(stream.headers.get("Content-Type") ?? "", /^text\/event-stream/);
        const end = await fetch(new URL(res.headers.get("Location")!, server.url), {
          client,
          method: "DELETE",
          headers: { Authorization: `Bearer ${token}` },
        });
        assert.equal(end.status, 200);
        await end.body?.cancel();
        const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
        let events = "";
        const timer = setTimeout(() => reader.cancel(), 5000);
        while (!/event: room\n.*\n\n/.test(events)) {
          const { value, done } = await reader.read();
          if (done) break;
          events += value;
        }
        clearTimeout(timer);
        await reader.cancel();
        assert.match(events, /event: room\ndata: \{"room":"tls"/);
      },
    );

    await t.step("plain http to the HTTPS port fails, and the server serves on", async () => {
      await assert.rejects(fetch(`http://127.0.0.1:${url.port}/healthz`));
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(url.port) });
      await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
      const started = performance.now();
      const reply = await readToEnd(conn, 5000);
      assert.ok(performance.now() - started < 4000, "closed at once, not left hanging");
      assert.doesNotMatch(reply, /HTTP\/1\.1 200/);
      const res = await fetch(`${server.url}/healthz`, { client });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    });
  } finally {
    client.close();
    await server.shutdown();
    await Deno.remove(files.dir, { recursive: true });
  }
});

Deno.test("HTTPS keeps the listener's limits: headers timeout, connection cap", async (t) => {
  const files = await selfSigned();
  const server = await testServer({
    TLS_CERT_FILE: files.cert,
    TLS_KEY_FILE: files.key,
    HTTP_HEADERS_TIMEOUT: "1",
    HTTP_MAX_CONNECTIONS: "16",
  });
  const caCerts = [await Deno.readTextFile(files.cert)];
  const port = Number(new URL(server.url).port);
  const tls = () => Deno.connectTls({ hostname: "127.0.0.1", port, caCerts });
  const open: Deno.TlsConn[] = [];
  try {
    await t.step("half a request over TLS is closed after HTTP_HEADERS_TIMEOUT", async () => {
      const conn = await tls();
      await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
      const started = performance.now();
      const reply = await readToEnd(conn, 5000);
      const waited = performance.now() - started;
      assert.ok(waited > 800 && waited < 3000, `closed after ${Math.round(waited)} ms`);
      assert.doesNotMatch(reply, /200 OK/);
    });

    await t.step(
      "past HTTP_MAX_CONNECTIONS a connection is closed, the others served",
      async () => {
        let refused = false;
        for (let i = 0; i < 20 && !refused; i++) {
          const conn = await tls();
          try {
            await conn.handshake();
            open.push(conn);
          } catch {
            refused = true; // closed before the handshake
            conn.close();
          }
        }
        assert.ok(refused, "a connection past the cap was refused");
        assert.ok(open.length >= 14 && open.length <= 16, `${open.length} connections accepted`);
        await open[0].write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
        const buffer = new Uint8Array(4096);
        const n = await open[0].read(buffer);
        assert.match(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), /^HTTP\/1\.1 200/);
      },
    );
  } finally {
    for (const conn of open) {
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
    await server.shutdown();
    await Deno.remove(files.dir, { recursive: true });
  }
});

Deno.test("HTTPS: an unusable certificate or key stops the start, naming the variable", async (t) => {
  const files = await selfSigned();
  /** Starts with these files; returns the one-sentence error. */
  const refusal = async (cert: string, key: string, variable: string) => {
    let error: unknown;
    try {
      const server = await testServer({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
      await server.shutdown();
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof ConfigError, `a ConfigError, got ${error}`);
    const message = error.message;
    assert.ok(message.startsWith(`${variable}: `), message);
    assert.doesNotMatch(message, /\n|at .*\.ts:\d+/, "one line, no stack trace");
    return message;
  };
  try {
    await t.step("a certificate file that does not exist", async () => {
      const message = await refusal(`${files.dir}/missing.pem`, files.key, "TLS_CERT_FILE");
      assert.match(message, /missing\.pem.*no such file/);
    });
    await t.step("a key file that does not exist", async () => {
      await refusal(files.cert, `${files.dir}/nokey.pem`, "TLS_KEY_FILE");
    });
    await t.step("a key in place of the certificate", async () => {
      assert.match(
        await refusal(files.key, files.key, "TLS_CERT_FILE"),
        /not a PEM certificate/,
      );
    });
    await t.step("a certificate in place of the key", async () => {
      assert.match(await refusal(files.cert, files.cert, "TLS_KEY_FILE"), /not .*private key/);
    });
    await t.step("the key of another certificate", async () => {
      assert.match(
        await refusal(files.cert, files.other, "TLS_KEY_FILE"),
        /not the private key of the certificate in TLS_CERT_FILE/,
      );
    });
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
});
