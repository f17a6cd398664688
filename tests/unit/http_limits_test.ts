/**
 * The HTTP limits' arithmetic: the connection budget from the descriptor limit, event-stream
 * slots, the negotiation gate's line, and the parser's refusals as problem details.
 */
import assert from "node:assert/strict";
import { connectionBudget } from "../../src/http/connection-limits.ts";
import { StreamSlots } from "../../src/http/sse.ts";
import { NegotiationGate, QUEUE_PER_CLIENT } from "../../src/http/negotiations.ts";
import { clientErrorResponse } from "../../src/http/listener.ts";
import { DomainError } from "../../src/errors.ts";
import { nofileLimit } from "../../src/os/rlimit.ts";

Deno.test("connection budget: the limit minus a reserve for media, capped by the setting", () => {
  const known = (soft: number) => ({ known: true as const, soft, hard: soft });
  assert.equal(connectionBudget(known(1024), 10_000).maxConnections, 512);
  assert.equal(connectionBudget(known(400), 10_000).maxConnections, 144); // reserve 256
  assert.equal(connectionBudget(known(1_048_576), 10_000).maxConnections, 10_000);
  assert.equal(connectionBudget(known(1024), 10_000, 900).maxConnections, 124);
  assert.equal(connectionBudget(known(100), 10_000).maxConnections, 16); // never below 16
  const unknown = connectionBudget({ known: false, reason: "no --allow-ffi" }, 10_000);
  assert.deepEqual(unknown, { maxConnections: 512, reserve: 512, nofile: 1024, known: false });
});

Deno.test("nofileLimit reads the limit (FFI) and never throws", () => {
  const limit = nofileLimit(false);
  if (limit.known) assert.ok(limit.soft > 0 && limit.soft <= limit.hard);
  else assert.ok(limit.reason.length > 0);
});

Deno.test("stream slots: per identity 429, per address 429, per server 503; release once", () => {
  const slots = new StreamSlots({ server: 4, perAddress: 3, perIdentity: 2 });
  const a = slots.acquire("1.1.1.1", "alice");
  slots.acquire("1.1.1.1", "alice");
  const code = (f: () => unknown) => {
    try {
      f();
      return "ok";
    } catch (e) {
      return `${(e as DomainError).code} ${(e as DomainError).retryAfter}`;
    }
  };
  assert.equal(code(() => slots.acquire("2.2.2.2", "alice")), "too-many-requests 10");
  slots.acquire("1.1.1.1"); // a viewer: no identity
  assert.equal(code(() => slots.acquire("1.1.1.1")), "too-many-requests 10");
  slots.acquire("2.2.2.2");
  assert.equal(code(() => slots.acquire("3.3.3.3")), "unavailable 10");
  a();
  a(); // idempotent
  assert.equal(slots.open, 3);
  assert.equal(code(() => slots.acquire("3.3.3.3", "alice")), "ok");
});

Deno.test("negotiation gate: a burst waits in line, per key and per server, first come first served", async () => {
  const gate = new NegotiationGate({ server: 3, perClient: 2 });
  let running = 0;
  let peak = 0;
  let peakA = 0;
  let runningA = 0;
  const order: number[] = [];
  const work = (i: number, key: string) =>
    gate.run([key], async () => {
      running++;
      if (key === "a") runningA++;
      peak = Math.max(peak, running);
      peakA = Math.max(peakA, runningA);
      await new Promise((r) => setTimeout(r, 10));
      order.push(i);
      running--;
      if (key === "a") runningA--;
      return i;
    });
  const results = await Promise.all(
    Array.from({ length: 12 }, (_, i) => work(i, i % 3 === 0 ? "b" : "a")),
  );
  assert.deepEqual(results, Array.from({ length: 12 }, (_, i) => i));
  assert.equal(peak, 3);
  assert.equal(peakA, 2);
  assert.equal(gate.running, 0);
  assert.equal(gate.waiting, 0);
});

Deno.test("negotiation gate: a full line per client is 429, errors give the slot back", async () => {
  const gate = new NegotiationGate({ server: 1, perClient: 1 });
  let release!: () => void;
  const first = gate.run(["k"], () => new Promise<void>((r) => release = r));
  const waiting = Array.from(
    { length: QUEUE_PER_CLIENT },
    () => gate.run(["k"], () => Promise.reject(new Error("boom"))).catch((e) => e.message),
  );
  await assert.rejects(
    gate.run(["k"], async () => {}),
    (e: unknown) => e instanceof DomainError && e.code === "too-many-requests",
  );
  release();
  await first;
  assert.deepEqual(new Set(await Promise.all(waiting)), new Set(["boom"]));
  assert.equal(gate.running, 0);
  assert.equal(await gate.run(["k"], () => Promise.resolve(7)), 7);
});

Deno.test("the parser's refusals are problem details with a matching status", () => {
  for (
    const [code, status] of [["HPE_HEADER_OVERFLOW", 431], ["ERR_HTTP_REQUEST_TIMEOUT", 408], [
      undefined,
      400,
    ]] as const
  ) {
    const raw = clientErrorResponse(code);
    assert.match(raw, new RegExp(`^HTTP/1.1 ${status} `));
    assert.match(raw, /Content-Type: application\/problem\+json\r\n/);
    const body = JSON.parse(raw.split("\r\n\r\n")[1]);
    assert.equal(body.status, status);
    const length = Number(/Content-Length: (\d+)/.exec(raw)![1]);
    assert.equal(length, new TextEncoder().encode(raw.split("\r\n\r\n")[1]).length);
  }
});
