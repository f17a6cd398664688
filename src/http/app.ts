/**
 * The Hono application: middleware (request ids, CORS, body limits, problem details) and the
 * routes of `routes/`. Building it has no side effects, so tests serve it on any port.
 *
 * @module
 */
import { Hono } from "hono";
import { cors } from "hono/cors";
import { bodyLimit } from "hono/body-limit";
import { requestId } from "hono/request-id";
import { DomainError } from "../errors.ts";
import { problemResponse } from "./problem.ts";
import type { AppDeps } from "./deps.ts";
import { whipRoutes } from "../../routes/whip.ts";
import { whepRoutes } from "../../routes/whep.ts";
import { sessionRoutes } from "../../routes/sessions.ts";
import { roomRoutes } from "../../routes/rooms.ts";
import { recordingRoutes } from "../../routes/recordings.ts";
import { healthRoutes } from "../../routes/health.ts";
import { metricsRoutes } from "../../routes/metrics.ts";
import { staticRoutes } from "../../routes/static.ts";
import { whepExtensionRoutes } from "../../routes/whep-extensions.ts";
import { ZodError } from "zod";
import { getConnInfo } from "hono/deno";
import { negotiationLimit } from "./negotiations.ts";
import type { Context } from "hono";
import { AddressSet, clientAddress, limitKey } from "./client-address.ts";
import { clusterRouting } from "./cluster-routing.ts";

/** Builds the application. */
export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  const { config, log } = deps;
  const charge = failedBudget(deps.limits);

  app.use(requestId());
  app.use(async (c, next) => {
    const start = performance.now();
    await next();
    log.info("request", {
      id: c.get("requestId"),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - start) * 10) / 10,
    });
  });
  const proxies = new AddressSet(config.trustedProxies);
  app.use(async (c, next) => {
    c.set("clientAddress", clientAddress(connAddress(c), c.req.raw.headers, proxies));
    await next();
  });
  app.use("/whip/*", acceptPost);
  app.use("/whep/*", acceptPost);
  app.use("/whip/*", negotiationLimit(deps.negotiations));
  app.use("/whep/*", negotiationLimit(deps.negotiations));
  app.use(cors({
    origin: config.corsOrigin,
    allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "If-Match"],
    exposeHeaders: ["Location", "ETag", "Link", "Accept-Patch", "Accept-Post", "Content-Type"],
    maxAge: 600,
  }));
  app.use(bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: () => {
      throw new DomainError(
        "body-too-large",
        `the body is larger than ${config.maxBodyBytes} bytes`,
      );
    },
  }));

  // cluster mode: rooms whose origin is another node are relayed to it, or played as an edge
  if (deps.cluster) app.use(clusterRouting(deps.cluster));

  app.route("/", whipRoutes(deps));
  app.route("/", whepRoutes(deps));
  app.route("/", whepExtensionRoutes(deps));
  app.route("/", sessionRoutes(deps));
  app.route("/", roomRoutes(deps));
  app.route("/", recordingRoutes(deps));
  app.route("/", healthRoutes(deps));
  if (config.metricsEnabled) app.route("/", metricsRoutes(deps));
  app.route("/", staticRoutes(deps));

  app.notFound((c) =>
    problemResponse(new DomainError("not-found", `nothing at ${c.req.path}`), c.req.path)
  );
  app.onError((error, c) => {
    if (error instanceof DomainError) return problemResponse(charge(error, c), c.req.path);
    if (error instanceof ZodError) {
      const issue = error.issues[0];
      const where = issue?.path.join(".") || "body";
      return problemResponse(
        new DomainError("bad-request", `${where}: ${issue?.message}`),
        c.req.path,
      );
    }
    if (closedByClient(error)) {
      // the client's doing (a closed tab, a killed process): its answer reaches no one
      log.info("client closed the request", { id: c.get("requestId"), path: c.req.path });
      return problemResponse(
        new DomainError("bad-request", "the connection closed before the body ended"),
        c.req.path,
      );
    }
    log.error("unhandled error", {
      id: c.get("requestId"),
      path: c.req.path,
      error: error instanceof Error ? error.stack ?? error.message : String(error),
    });
    return new Response(
      JSON.stringify({
        type: "/problems/internal",
        title: "Internal error",
        status: 500,
        detail: `request ${c.get("requestId")} failed; the operator's log has the cause`,
      }),
      { status: 500, headers: { "Content-Type": "application/problem+json" } },
    );
  });
  return app;
}

/**
 * Whether `error` is node:http's "aborted" (`ECONNRESET` with that message): the client closed its
 * connection while its body was being read. Other resets (a Redis or upstream socket of this
 * server) stay the server's errors.
 */
function closedByClient(error: unknown): boolean {
  return error instanceof Error && error.message === "aborted" &&
    (error as { code?: unknown }).code === "ECONNRESET";
}

/**
 * A refused request (401: no or a bad token; 403: a token without the right) spends a token of
 * its client address's budget of failed requests; when that is used up the answer is 429 with
 * `Retry-After` instead. Authenticated requests never spend it, so junk from an address cannot
 * lock out a valid token sent from the same address.
 */
function failedBudget(limits: AppDeps["limits"]) {
  return (error: DomainError, c: Context): DomainError => {
    if (error.code !== "unauthorized" && error.code !== "forbidden") return error;
    const address = c.get("clientAddress") ?? "unknown";
    const wait = limits.failed.take(limitKey(address));
    if (wait === 0) return error;
    return new DomainError("too-many-requests", `too many refused requests from ${address}`, {
      retryAfter: wait,
    });
  };
}

/** WHIP/WHEP endpoints announce that they take SDP offers (also on the CORS preflight). */
async function acceptPost(
  c: { req: { method: string }; header: (k: string, v: string) => void },
  next: () => Promise<void>,
) {
  if (c.req.method === "OPTIONS") c.header("Accept-Post", "application/sdp");
  await next();
}

/** The socket's peer address. */
function connAddress(c: Parameters<typeof getConnInfo>[0]): string {
  try {
    return getConnInfo(c).remote.address ?? "unknown";
  } catch {
    return "unknown";
  }
}
