/**
 * Command-line token minter:
 *
 * ```sh
 * npx -y deno task token --room R --role host|participant|viewer --sub NAME [--ttl 1h] [--secret S]
 * ```
 *
 * The secret defaults to the environment variable `JWT_SECRET` (its UTF-8 bytes, as the server
 * uses it); `JWT_ISSUER`, `JWT_AUDIENCE` and `JWT_MAX_TTL` are honoured when set. It refuses what
 * the server would refuse, in the server's words: the secret and `JWT_MAX_TTL` are checked by the
 * server's own configuration loader, and the minted token by the server's own verifier. Only the
 * token is printed on stdout; errors and usage go to stderr with exit status 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { createVerifier, mintToken, type Role } from "./tokens.ts";
import { parseDuration } from "../duration.ts";
import { ConfigError, loadConfig } from "../config.ts";

const ROLE_NAMES: readonly Role[] = ["host", "participant", "viewer"];

/** The usage text printed on `--help` and after any argument error. */
export const USAGE: string =
  "usage: npx -y deno task token --room ROOM --role host|participant|viewer --sub NAME [--ttl 1h]\n" +
  "                              [--secret S]\n" +
  "  --room    the room the token is valid for (1-64 characters)\n" +
  "  --role    host (opens, publishes, manages), participant (watches and publishes)\n" +
  "            or viewer (watches only; one token may be shared by many viewers)\n" +
  "  --sub     the identity of the bearer (1-256 characters)\n" +
  "  --ttl     lifetime: 45s, 30m, 1h, 2d or seconds (default 1h)\n" +
  "  --secret  HS256 secret (default: environment variable JWT_SECRET)\n" +
  "environment: JWT_SECRET, JWT_ISSUER, JWT_AUDIENCE, JWT_MAX_TTL (as the server reads them)\n";

/** What a run of the CLI produced: exit status and the text for stdout and stderr. */
export interface MintResult {
  /** Exit status: 0 on success, 2 on a usage or configuration error. */
  code: number;
  /** Text for stdout: the token and a newline, or the usage on `--help`. */
  out: string;
  /** Text for stderr. */
  err: string;
}

function failure(message: string, withUsage = true): MintResult {
  return { code: 2, out: "", err: `error: ${message}\n${withUsage ? USAGE : ""}` };
}

/**
 * Runs the CLI on `args` with environment lookup `env`, without touching the process, so tests
 * can call it directly.
 */
export async function main(
  args: string[],
  env: (name: string) => string | undefined,
): Promise<MintResult> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        room: { type: "string" },
        role: { type: "string" },
        sub: { type: "string" },
        ttl: { type: "string", default: "1h" },
        secret: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return failure(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return { code: 0, out: USAGE, err: "" };

  const { room, role, sub } = values;
  if (room === undefined || sub === undefined || role === undefined) {
    const missing = [["--room", room], ["--role", role], ["--sub", sub]]
      .filter(([, value]) => value === undefined).map(([flag]) => flag);
    return failure(`missing ${missing.join(", ")}`);
  }
  if (!(ROLE_NAMES as readonly string[]).includes(role)) {
    return failure(`--role must be host, participant or viewer, got ${JSON.stringify(role)}`);
  }
  const normalisedRoom = room.normalize("NFC");
  if (normalisedRoom.length === 0 || normalisedRoom.length > 64) {
    return failure("--room must be 1 to 64 characters");
  }
  if (sub.length === 0 || sub.length > 256) return failure("--sub must be 1 to 256 characters");

  let ttlSeconds: number;
  try {
    ttlSeconds = parseDuration(values.ttl ?? "1h");
  } catch (error) {
    return failure(`--ttl: ${(error as Error).message}`);
  }

  const secretText = values.secret ?? env("JWT_SECRET");
  if (secretText === undefined || secretText.length === 0) {
    return failure("no secret: pass --secret or set the environment variable JWT_SECRET", false);
  }
  // The server's configuration loader checks the secret and JWT_MAX_TTL (same words as at start).
  const shared: Record<string, string | undefined> = {
    JWT_SECRET: secretText,
    JWT_ISSUER: env("JWT_ISSUER"),
    JWT_AUDIENCE: env("JWT_AUDIENCE"),
    JWT_MAX_TTL: env("JWT_MAX_TTL"),
  };
  let config;
  try {
    config = loadConfig((name) => shared[name]);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const lines = error.message.split("\n").slice(1).map((line) => line.trim());
    const from = values.secret === undefined ? "" : " (--secret is read as JWT_SECRET)";
    return failure(`the server would refuse this${from}:\n  ${lines.join("\n  ")}`, false);
  }

  const token = await mintToken(config.jwtSecret!, {
    sub,
    room: normalisedRoom,
    role: role as Role,
    ttlSeconds,
    issuer: config.jwtIssuer,
    audience: config.jwtAudience,
  });
  // The server's own verifier has the last word (lifetime over JWT_MAX_TTL, claim shapes).
  try {
    await createVerifier({
      secret: config.jwtSecret,
      issuer: config.jwtIssuer,
      audience: config.jwtAudience,
      maxTtlSeconds: config.jwtMaxTtl,
    }).verify(token);
  } catch (error) {
    const hint = /longer than/.test((error as Error).message)
      ? ` (--ttl ${values.ttl}; JWT_MAX_TTL is ${config.jwtMaxTtl} s)`
      : "";
    return failure(`the server would refuse this token: ${(error as Error).message}${hint}`, false);
  }
  return { code: 0, out: `${token}\n`, err: "" };
}

async function writeAll(stream: { write(p: Uint8Array): Promise<number> }, text: string) {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(await stream.write(bytes));
}

if (import.meta.main) {
  const result = await main(Deno.args, (name) => Deno.env.get(name));
  await writeAll(Deno.stdout, result.out);
  await writeAll(Deno.stderr, result.err);
  Deno.exit(result.code);
}
