/**
 * Cluster mode: a request for a room whose origin is another node is relayed to that node (as
 * LiveKit relays signalling to a room's node), not redirected — browsers drop `Authorization` on
 * a cross-origin 307. The relayed request keeps its method, body and the headers that matter
 * (`Authorization`, `Content-Type`, `If-Match`, `Accept`), adds the client's address in
 * `X-Forwarded-For` (read by the origin when this node is in its `TRUSTED_PROXIES`), and the
 * answer comes back as the origin gave it, with `Location` made absolute on the origin: the
 * session's PATCH and DELETE then go straight to the node that holds it. Event streams are
 * passed through as they arrive.
 *
 * @module
 */
import { DomainError } from "../errors.ts";

/** Request headers relayed to the origin. */
const RELAYED = ["authorization", "content-type", "if-match", "accept", "last-event-id"];
/** Response headers not relayed back (hop-by-hop, or set again by this node). */
const DROPPED = new Set(["connection", "keep-alive", "transfer-encoding", "content-length"]);
/** Time the origin has to answer (its negotiation included). */
const ORIGIN_TIMEOUT_MS = 15_000;

/** Relays `request` to the same path on `origin` (a node's base URL). */
export async function forward(
  request: Request,
  origin: string,
  clientAddress: string | undefined,
): Promise<Response> {
  const url = new URL(request.url);
  const target = new URL(url.pathname + url.search, origin);
  const headers = new Headers();
  for (const name of RELAYED) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  const prior = request.headers.get("x-forwarded-for");
  if (clientAddress) {
    headers.set("x-forwarded-for", prior ? `${prior}, ${clientAddress}` : clientAddress);
  }
  headers.set("x-sfu-relayed", "1");
  const stream = url.pathname.endsWith("/events");
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ORIGIN_TIMEOUT_MS);
  request.signal.addEventListener("abort", () => controller.abort(), { once: true });
  let response: Response;
  try {
    response = await fetch(target, {
      method: request.method,
      headers,
      body: request.method === "GET" || request.method === "HEAD"
        ? undefined
        : await request.arrayBuffer(),
      redirect: "manual",
      signal: controller.signal,
    });
  } catch {
    throw new DomainError("unavailable", "the room's origin node does not answer", {
      retryAfter: 5,
    });
  } finally {
    if (!stream) clearTimeout(timer);
  }
  if (stream) clearTimeout(timer); // the headers came: the stream lasts as long as it lasts
  const out = new Headers();
  for (const [name, value] of response.headers) {
    if (!DROPPED.has(name)) out.append(name, value);
  }
  const location = response.headers.get("location");
  if (location) out.set("location", new URL(location, target).href);
  return new Response(response.body, { status: response.status, headers: out });
}
