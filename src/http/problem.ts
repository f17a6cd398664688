/**
 * RFC 9457 problem details: the one place where domain errors become HTTP statuses.
 *
 * @module
 */
import { DomainError, type ErrorCode } from "../errors.ts";

/** HTTP status of each domain error code. */
export const STATUS: Record<ErrorCode, number> = {
  "bad-request": 400,
  "bad-sdp": 400,
  "bad-room-name": 400,
  "unauthorized": 401,
  "forbidden": 403,
  "not-found": 404,
  "method-not-allowed": 405,
  "no-common-codec": 406,
  "room-full": 409,
  "room-owned": 409,
  "precondition-failed": 412,
  "body-too-large": 413,
  "unsupported-media-type": 415,
  "unprocessable": 422,
  "precondition-required": 428,
  "too-many-requests": 429,
  "unavailable": 503,
};

const TITLES: Record<ErrorCode, string> = {
  "bad-request": "Bad request",
  "bad-sdp": "Malformed SDP",
  "bad-room-name": "Bad room name",
  "unauthorized": "Unauthorized",
  "forbidden": "Forbidden",
  "not-found": "Not found",
  "method-not-allowed": "Method not allowed",
  "no-common-codec": "No common codec",
  "room-full": "Room full",
  "room-owned": "Room owned by another host",
  "precondition-failed": "ETag mismatch",
  "body-too-large": "Body too large",
  "unsupported-media-type": "Unsupported media type",
  "unprocessable": "Cannot apply",
  "precondition-required": "If-Match required",
  "too-many-requests": "Too many requests",
  "unavailable": "Unavailable",
};

/** The JSON body of a problem response. */
export interface Problem {
  /** `/problems/<code>`: stable, relative to the server. */
  type: string;
  /** Short human summary of the code. */
  title: string;
  /** HTTP status. */
  status: number;
  /** What happened, for a person. */
  detail: string;
  /** The request path. */
  instance?: string;
}

/** Builds the `application/problem+json` response for a domain error. */
export function problemResponse(error: DomainError, instance?: string): Response {
  const status = STATUS[error.code];
  const body: Problem = {
    type: `/problems/${error.code}`,
    title: TITLES[error.code],
    status,
    detail: error.message,
    instance,
  };
  const headers = new Headers({ "Content-Type": "application/problem+json" });
  if (status === 401) headers.set("WWW-Authenticate", 'Bearer realm="sfu"');
  if (error.retryAfter !== undefined) headers.set("Retry-After", String(error.retryAfter));
  return new Response(JSON.stringify(body), { status, headers });
}
