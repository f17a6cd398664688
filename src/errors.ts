/**
 * Typed domain errors. Every module below HTTP throws one of these; the HTTP layer maps each
 * `code` to a status and an RFC 9457 problem document in one place (`src/http/problem.ts`).
 *
 * @module
 */

/** The stable machine-readable codes, one per kind of failure a client can cause or meet. */
export type ErrorCode =
  | "bad-request"
  | "bad-sdp"
  | "bad-room-name"
  | "unauthorized"
  | "forbidden"
  | "not-found"
  | "method-not-allowed"
  | "no-common-codec"
  | "room-full"
  | "room-owned"
  | "precondition-failed"
  | "body-too-large"
  | "unsupported-media-type"
  | "unprocessable"
  | "precondition-required"
  | "too-many-requests"
  | "unavailable";

/** Base class of every error that maps to a client-visible problem. */
export class DomainError extends Error {
  /** Stable code, used as the problem document's `type` suffix. */
  readonly code: ErrorCode;
  /** Seconds a client should wait before retrying (429 / 503). */
  readonly retryAfter?: number;

  /** @param code the stable code; @param detail a human sentence for the client. */
  constructor(code: ErrorCode, detail: string, options?: { retryAfter?: number; cause?: unknown }) {
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "DomainError";
    this.code = code;
    this.retryAfter = options?.retryAfter;
  }
}

/** Malformed SDP or sdpfrag. */
export class SdpError extends DomainError {
  /** @param detail what is wrong with the SDP, naming the line where possible. */
  constructor(detail: string) {
    super("bad-sdp", detail);
    this.name = "SdpError";
  }
}

/** Missing, malformed, expired or badly signed token. */
export class AuthError extends DomainError {
  /** @param detail why the token was refused. */
  constructor(detail: string) {
    super("unauthorized", detail);
    this.name = "AuthError";
  }
}

/** A valid token without the right to do what was asked. */
export class ForbiddenError extends DomainError {
  /** @param detail which right is missing. */
  constructor(detail: string) {
    super("forbidden", detail);
    this.name = "ForbiddenError";
  }
}

/** Unknown room or session. */
export class NotFoundError extends DomainError {
  /** @param detail what was not found. */
  constructor(detail: string) {
    super("not-found", detail);
    this.name = "NotFoundError";
  }
}
