/**
 * Request helpers shared by the routes: the bearer principal, content types, room names,
 * and the headers of a created session.
 *
 * @module
 */
import type { Context } from "hono";
import { bearerToken, type Claims, type TokenVerifier } from "../auth/tokens.ts";
import { DomainError } from "../errors.ts";
import { roomName } from "../rooms/names.ts";
import type { IceServer } from "../config.ts";
import { problemResponse } from "./problem.ts";
import type { RateLimiter } from "./rate-limit.ts";
import { limitKey } from "./client-address.ts";

/** What {@link principal} needs: the verifier and, for mutating requests, the limits. */
export interface PrincipalDeps {
  /** Token verification. */
  verifier: TokenVerifier;
  /** Limits on authenticated mutating requests, per client address and per identity. */
  limits: { ip: RateLimiter; identity: RateLimiter };
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Verifies the request's bearer token. An authenticated mutating request then spends a token of
 * its client address's budget and — for hosts and participants, one person or encoder each — of
 * its identity's (role and `sub`); 429 with `Retry-After` when one is exhausted. Viewer tokens
 * are shared by crowds, so viewers spend only their address's budget (their sessions are bounded
 * by the session limits). A refused token spends nothing here: the app charges the address's
 * separate budget of failed requests, so anonymous junk cannot use up an authenticated user's.
 */
export async function principal(c: Context, deps: PrincipalDeps): Promise<Claims> {
  const claims = await deps.verifier.verify(bearerToken(c.req.header("Authorization")));
  if (MUTATING.has(c.req.method)) {
    const address = c.get("clientAddress") ?? "unknown";
    const byAddress = deps.limits.ip.take(limitKey(address));
    if (byAddress > 0) {
      throw new DomainError("too-many-requests", `too many requests from ${address}`, {
        retryAfter: byAddress,
      });
    }
    if (claims.role !== "viewer") {
      const byIdentity = deps.limits.identity.take(`${claims.role}\0${claims.sub}`);
      if (byIdentity > 0) {
        throw new DomainError("too-many-requests", `too many requests by ${claims.sub}`, {
          retryAfter: byIdentity,
        });
      }
    }
  }
  return claims;
}

/** The media type of the request, lower-cased, without parameters ("" when absent). */
export function mediaType(c: Context): string {
  return (c.req.header("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
}

/** Throws 415 unless the request's media type is one of `allowed`. */
export function requireMediaType(c: Context, ...allowed: string[]): string {
  const type = mediaType(c);
  if (!allowed.includes(type)) {
    throw new DomainError(
      "unsupported-media-type",
      `expected Content-Type ${allowed.join(" or ")}, got ${type || "none"}`,
    );
  }
  return type;
}

/** The validated, NFC-normalised room of the path. */
export function pathRoom(c: Context): string {
  return roomName(c.req.param("room") ?? "");
}

/** One `Link` header value per STUN/TURN server (RFC 9725 §4.6). */
export function iceServerLinks(servers: readonly IceServer[]): string[] {
  return servers.map((s) => {
    const quote = (v: string) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
    let link = `<${s.url}>; rel="ice-server"`;
    if (s.username !== undefined) {
      link += `; username=${quote(s.username)}; credential=${quote(s.credential ?? "")}` +
        `; credential-type="password"`;
    }
    return link;
  });
}

/** Throws 503 with `Retry-After` while the server drains. */
export function refuseWhileDraining(lifecycle: { draining: boolean }): void {
  if (lifecycle.draining) {
    throw new DomainError("unavailable", "the server is shutting down", { retryAfter: 5 });
  }
}

/** Reads an SDP offer body; `undefined` when the body is empty and `allowEmpty` is set. */
export async function readSdp(c: Context, allowEmpty = false): Promise<string | undefined> {
  const body = await c.req.text();
  if (body.trim() === "") {
    if (allowEmpty) return undefined;
    throw new DomainError("bad-sdp", "the body is empty; an SDP offer was expected");
  }
  requireMediaType(c, "application/sdp");
  return body;
}

/** The 201 of a WHIP/WHEP POST: SDP body, Location, ETag, Accept-Patch and ICE server links. */
export function createdResponse(
  session: { id: string; etag: string },
  sdp: string,
  iceServers: readonly IceServer[],
  extraLinks: string[] = [],
): Response {
  const headers = new Headers({
    "Content-Type": "application/sdp",
    "Location": `/sessions/${session.id}`,
    "ETag": session.etag,
    "Accept-Patch": "application/trickle-ice-sdpfrag",
  });
  for (const link of [...iceServerLinks(iceServers), ...extraLinks]) headers.append("Link", link);
  return new Response(sdp, { status: 201, headers });
}

/** A handler answering 405 with the allowed methods. */
export function methodNotAllowed(allow: string): (c: Context) => Response {
  return (c) => {
    const error = new DomainError("method-not-allowed", `${c.req.method} is not allowed here`);
    const response = problemResponse(error, c.req.path);
    response.headers.set("Allow", allow);
    return response;
  };
}

/** Reads an optional JSON body (`undefined` when empty); 415 / 400 on a wrong type or bad JSON. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return undefined;
  requireMediaType(c, "application/json");
  try {
    return JSON.parse(text);
  } catch {
    throw new DomainError("bad-request", "the body is not valid JSON");
  }
}
