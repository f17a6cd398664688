/**
 * Bearer-token verification (JWT, via jose) and claim validation (via zod).
 *
 * Algorithms are pinned by configuration: with a shared secret only `HS256` is accepted; with a
 * JWKS only `ES256` and `EdDSA` (Ed25519) are accepted, the key being selected by `kid`. Every
 * refusal is an {@link AuthError} carrying a short human sentence; jose's own messages and stack
 * traces never reach the client.
 *
 * @module
 */

import {
  createLocalJWKSet,
  type CryptoKey,
  type JWTPayload,
  jwtVerify,
  type JWTVerifyOptions,
  type KeyObject,
  SignJWT,
} from "jose";
import { z } from "zod";
import { AuthError } from "../errors.ts";

/**
 * What a token lets its bearer be in its room: the `host` opens, publishes and manages it; a
 * `participant` watches and publishes its own media; a `viewer` only watches (WHEP, room state and
 * events), is not counted against `maxParticipants`, and may share its token with a crowd.
 */
export type Role = "host" | "participant" | "viewer";

/** Every role, in the order of the rights they carry. */
export const ROLES: readonly Role[] = ["host", "participant", "viewer"];

/** The validated claims of a verified token. */
export interface Claims {
  /** Identity of the bearer (non-empty, at most 256 characters). */
  sub: string;
  /** The one room this token is valid for (NFC-normalised, non-empty, at most 64 characters). */
  room: string;
  /** `host`, `participant` or `viewer`. */
  role: Role;
  /** Expiry, seconds since the epoch. */
  exp: number;
  /** Issue time, seconds since the epoch, when the token carries one. */
  iat?: number;
}

/** How tokens are checked. Give `secret` (HS256) or `jwks` (ES256 / EdDSA); `jwks` wins. */
export interface VerifierOptions {
  /** HS256 shared secret. */
  secret?: Uint8Array;
  /** A parsed JWKS of ES256 / EdDSA public keys, selected by `kid`; used instead of the secret. */
  jwks?: { keys: unknown[] };
  /** Required `iss` value, when configured. */
  issuer?: string;
  /** Required `aud` value (string or member of the array), when configured. */
  audience?: string;
  /** Longest accepted token lifetime in seconds (`exp - iat`, or `exp - now` without `iat`). */
  maxTtlSeconds: number;
  /** Clock skew tolerated on `exp`, `nbf` and `iat`, seconds; default 30 (`JWT_CLOCK_TOLERANCE`). */
  clockToleranceSeconds?: number;
}

/** Checks a compact JWT and returns its validated claims, or throws {@link AuthError}. */
export interface TokenVerifier {
  /** Verifies `token` (signature, algorithm, time claims, iss/aud, claim shapes). */
  verify(token: string): Promise<Claims>;
}

/** Tokens longer than this many bytes are refused before any parsing. */
const MAX_TOKEN_BYTES = 8192;
/** Three base64url segments (the last may be empty, so `alg: none` is refused by name). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const HMAC_ALGORITHMS = ["HS256"];
/** Clock skew tolerated by default: issuers' and servers' clocks drift by seconds, not minutes. */
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
const JWKS_ALGORITHMS = ["ES256", "EdDSA"];

const claimsSchema = z.object({
  sub: z.string().min(1).max(256),
  room: z.string().normalize("NFC").min(1).max(64),
  role: z.enum(["host", "participant", "viewer"]),
  exp: z.number(),
  iat: z.number().optional(),
});

const claimMessages: Record<string, string> = {
  sub: "claim sub must be a non-empty string of at most 256 characters",
  room: "claim room must be a non-empty string of at most 64 characters",
  role: "claim role must be host, participant or viewer",
  exp: "claim exp must be a number",
  iat: "claim iat must be a number",
};

type KeyGetter = Parameters<typeof jwtVerify>[1];

/**
 * Builds a verifier from configuration. Configuration mistakes (no key, an empty secret, a
 * malformed JWKS or one holding private keys, a non-positive maximum TTL) throw a plain `Error`
 * at once, never an {@link AuthError}.
 */
export function createVerifier(options: VerifierOptions): TokenVerifier {
  const { maxTtlSeconds, issuer, audience } = options;
  const tolerance = options.clockToleranceSeconds ?? DEFAULT_CLOCK_TOLERANCE_SECONDS;
  if (!Number.isFinite(maxTtlSeconds) || maxTtlSeconds <= 0) {
    throw new Error(`maxTtlSeconds must be a positive number of seconds, got ${maxTtlSeconds}`);
  }
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new Error(`clockToleranceSeconds must be zero or more, got ${tolerance}`);
  }

  let key: KeyGetter;
  let algorithms: string[];
  if (options.jwks !== undefined) {
    key = jwksGetter(options.jwks);
    algorithms = JWKS_ALGORITHMS;
  } else if (options.secret !== undefined) {
    if (!(options.secret instanceof Uint8Array) || options.secret.length === 0) {
      throw new Error("the HS256 secret must be a non-empty byte array");
    }
    key = options.secret;
    algorithms = HMAC_ALGORITHMS;
  } else {
    throw new Error("token verification needs a secret (HS256) or a JWKS (ES256/EdDSA)");
  }

  const verifyOptions: JWTVerifyOptions = {
    algorithms,
    requiredClaims: ["exp"],
    clockTolerance: tolerance,
    ...(issuer === undefined ? {} : { issuer }),
    ...(audience === undefined ? {} : { audience }),
  };

  return {
    async verify(token: string): Promise<Claims> {
      if (typeof token !== "string" || token.length === 0) throw new AuthError("missing token");
      if (token.length > MAX_TOKEN_BYTES) {
        throw new AuthError(`token too large (over ${MAX_TOKEN_BYTES} bytes)`);
      }
      if (!COMPACT_JWS.test(token)) throw new AuthError("token malformed");

      const payload = await verifySignedToken(token, key, verifyOptions);
      const now = Math.floor(Date.now() / 1000);
      checkLifetime(payload, now, maxTtlSeconds, tolerance);

      const parsed = claimsSchema.safeParse(payload);
      if (!parsed.success) {
        const field = String(parsed.error.issues[0]?.path[0] ?? "");
        throw new AuthError(claimMessages[field] ?? "token claims invalid");
      }
      const { sub, room, role, exp, iat } = parsed.data;
      return iat === undefined ? { sub, room, role, exp } : { sub, room, role, exp, iat };
    },
  };
}

/** A base64url encoding of exactly 32 bytes (a P-256 coordinate or an Ed25519 public key). */
const B64URL_32_BYTES = /^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/;

/**
 * Validates the JWKS up front (shape, public keys only, well-formed EC P-256 / OKP Ed25519
 * members) and returns jose's local key set. Keys of other types are left in the set but can
 * never be selected, since only ES256 and EdDSA are accepted.
 */
function jwksGetter(jwks: { keys: unknown[] }): KeyGetter {
  if (typeof jwks !== "object" || jwks === null || !Array.isArray(jwks.keys)) {
    throw new Error('the JWKS must be an object with a "keys" array');
  }
  let usable = 0;
  jwks.keys.forEach((jwk, index) => {
    if (typeof jwk !== "object" || jwk === null || Array.isArray(jwk)) {
      throw new Error(`JWKS key ${index} is not an object`);
    }
    const key = jwk as Record<string, unknown>;
    if ("d" in key || key.kty === "oct") {
      throw new Error(
        `JWKS key ${index} holds private or secret key material; publish public keys`,
      );
    }
    if (key.kid !== undefined && typeof key.kid !== "string") {
      throw new Error(`JWKS key ${index} has a kid that is not a string`);
    }
    const coordinate = (name: string) =>
      typeof key[name] === "string" && B64URL_32_BYTES.test(key[name] as string);
    if (key.kty === "EC" || key.kty === "OKP") {
      const ok = key.kty === "EC"
        ? key.crv === "P-256" && coordinate("x") && coordinate("y")
        : key.crv === "Ed25519" && coordinate("x");
      if (!ok) {
        throw new Error(
          `JWKS key ${index} is malformed: expected an EC P-256 key (x, y) or an OKP Ed25519 key (x)`,
        );
      }
      usable++;
    }
  });
  if (usable === 0) {
    throw new Error("the JWKS holds no ES256 (EC P-256) or EdDSA (OKP Ed25519) public key");
  }
  try {
    return createLocalJWKSet(jwks as Parameters<typeof createLocalJWKSet>[0]);
  } catch {
    throw new Error("the JWKS is malformed");
  }
}

/**
 * Runs jose's verification; when several JWKS keys match a token without `kid`, tries each in
 * turn (jose leaves that to the caller). Maps every failure to an {@link AuthError}.
 */
async function verifySignedToken(
  token: string,
  key: KeyGetter,
  options: JWTVerifyOptions,
): Promise<JWTPayload> {
  try {
    return (await jwtVerify(token, key, options)).payload;
  } catch (error) {
    if (errorCode(error) !== "ERR_JWKS_MULTIPLE_MATCHING_KEYS") throw toAuthError(error);
    let last: unknown = error;
    for await (const candidate of error as AsyncIterable<CryptoKey | KeyObject>) {
      try {
        return (await jwtVerify(token, candidate, options)).payload;
      } catch (next) {
        last = next;
        if (errorCode(next) !== "ERR_JWS_SIGNATURE_VERIFICATION_FAILED") break;
      }
    }
    throw toAuthError(last);
  }
}

/** Refuses tokens living longer than the maximum, or issued in the future. */
function checkLifetime(payload: JWTPayload, now: number, maxTtl: number, tolerance: number): void {
  const exp = payload.exp as number; // presence and type already checked by jose
  const iat = payload.iat;
  if (typeof iat === "number") {
    if (iat > now + tolerance) throw new AuthError("token issued in the future");
    if (exp - iat > maxTtl) throw tooLongLived(maxTtl);
  } else if (exp - now > maxTtl + tolerance) {
    throw tooLongLived(maxTtl);
  }
}

function tooLongLived(maxTtl: number): AuthError {
  return new AuthError(`token lives longer than the configured maximum of ${maxTtl} s`);
}

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** Translates a jose error into a short, stable, client-safe sentence. */
function toAuthError(error: unknown): AuthError {
  if (error instanceof AuthError) return error;
  const claim = (error as { claim?: unknown } | null)?.claim;
  const reason = (error as { reason?: unknown } | null)?.reason;
  switch (errorCode(error)) {
    case "ERR_JWT_EXPIRED":
      return new AuthError("token expired");
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return claimError(claim, reason);
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return new AuthError("token signature invalid");
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return new AuthError("token algorithm not allowed");
    case "ERR_JWKS_NO_MATCHING_KEY":
      return new AuthError("no configured key matches the token");
    case "ERR_JOSE_NOT_SUPPORTED":
      return new AuthError("token uses an unsupported feature");
    case "ERR_JWS_INVALID":
    case "ERR_JWT_INVALID":
      return new AuthError("token malformed");
    default:
      return new AuthError("token invalid");
  }
}

/** The sentence for a jose claim-check failure on `claim`. */
function claimError(claim: unknown, reason: unknown): AuthError {
  if (reason === "missing" && typeof claim === "string") {
    return new AuthError(`token has no ${claim} claim`);
  }
  switch (claim) {
    case "nbf":
      return new AuthError("token not yet valid");
    case "iss":
      return new AuthError("token issuer not accepted");
    case "aud":
      return new AuthError("token audience not accepted");
    case "exp":
    case "iat":
      return new AuthError(`claim ${claim} must be a number`);
    default:
      return new AuthError("token claims invalid");
  }
}

/**
 * Extracts the token from an `Authorization: Bearer <jwt>` header (scheme case-insensitive).
 * Throws {@link AuthError} `missing bearer token` when the header is absent or empty, and
 * `malformed Authorization header` for any other scheme or shape.
 */
export function bearerToken(authorizationHeader: string | undefined | null): string {
  if (authorizationHeader === undefined || authorizationHeader === null) {
    throw new AuthError("missing bearer token");
  }
  const header = authorizationHeader.trim();
  if (header.length === 0) throw new AuthError("missing bearer token");
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(header);
  if (match === null) throw new AuthError("malformed Authorization header");
  return match[1];
}

/**
 * Signs an HS256 token carrying `sub`, `room`, `role`, `iat` (now) and `exp` (now + ttl), plus
 * `iss` / `aud` when given. Throws a plain `Error` on an empty secret or a non-positive TTL.
 */
export async function mintToken(
  secret: Uint8Array,
  claims: {
    sub: string;
    room: string;
    role: Role;
    ttlSeconds: number;
    issuer?: string;
    audience?: string;
  },
): Promise<string> {
  if (!(secret instanceof Uint8Array) || secret.length === 0) {
    throw new Error("the HS256 secret must be a non-empty byte array");
  }
  if (!Number.isSafeInteger(claims.ttlSeconds) || claims.ttlSeconds <= 0) {
    throw new Error(`ttlSeconds must be a positive whole number, got ${claims.ttlSeconds}`);
  }
  const iat = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ room: claims.room.normalize("NFC"), role: claims.role })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + claims.ttlSeconds);
  if (claims.issuer !== undefined) jwt.setIssuer(claims.issuer);
  if (claims.audience !== undefined) jwt.setAudience(claims.audience);
  return await jwt.sign(secret);
}
