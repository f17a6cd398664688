/**
 * Starts a real server on a random loopback port for a test, and mints its tokens.
 *
 * @module
 */
import { loadConfig } from "../../src/config.ts";
import { type Server, type StartOptions, startServer } from "../../src/server.ts";
import { mintToken } from "../../src/auth/tokens.ts";

/** The HS256 secret of test servers. */
export const TEST_SECRET = "test-secret-0123456789abcdefghijklmnop";

/** A running test server with a token helper. */
export interface TestServer extends Server {
  /** Mints a token for this server. */
  token(
    sub: string,
    room: string,
    role?: "host" | "participant",
    ttlSeconds?: number,
  ): Promise<string>;
}

/** Starts a server with test defaults; `env` overrides variables. */
export async function testServer(
  env: Record<string, string> = {},
  options: StartOptions = {},
): Promise<TestServer> {
  const vars: Record<string, string> = {
    PORT: "0",
    HOST: "127.0.0.1",
    // tests run servers side by side: each its own shared media ports (unless a test asks for
    // a port per session)
    ...(env.UDP_PORT_MIN === undefined ? { UDP_PORT: "0" } : {}),
    TCP_PORT: "0",
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: "silent",
    ICE_LOOPBACK: "true",
    RATE_LIMIT_IP: "1000000", // tests fire many requests from one address
    RATE_LIMIT_IDENTITY: "1000000",
    RATE_LIMIT_FAILED: "1000000", // and many refused requests
    ...env,
  };
  const server = await startServer(loadConfig((n) => vars[n]), options);
  const secret = new TextEncoder().encode(vars.JWT_SECRET);
  return {
    ...server,
    token: (sub, room, role = "host", ttlSeconds = 600) =>
      mintToken(secret, { sub, room, role, ttlSeconds }),
  };
}

/**
 * A server in demo mode (no `JWT_SECRET`: it mints the demo tokens), as the README's first command
 * runs it, but on free ports, HTTP and media: a demo server of this machine may hold 8080 and 8189.
 * `env` adds or overrides variables.
 */
export function demoServer(env: Record<string, string> = {}): Promise<Server> {
  const vars: Record<string, string> = {
    PORT: "0",
    UDP_PORT: "0",
    TCP_PORT: "0",
    LOG_LEVEL: "silent",
    ...env,
  };
  return startServer(loadConfig((n) => vars[n]));
}
