/**
 * The pages of `static/`, `/favicon.ico`, and `/demo.json` (demo tokens, in demo mode only, and
 * only to a browser on this machine).
 *
 * @module
 */
import { Hono } from "hono";
import { getConnInfo, serveStatic } from "hono/deno";
import type { AppDeps } from "../src/http/deps.ts";
import { pageSecurityHeaders } from "../src/http/security-headers.ts";
import { DomainError } from "../src/errors.ts";
import { localClientProblem } from "../src/http/local-client.ts";

const ROOT = new URL("../static/", import.meta.url).pathname;

/**
 * Static files. There is no build step and no hashed file names, so browsers revalidate every
 * file (`no-cache`: a 304 when unchanged) and pick up a new version of the pages at once.
 */
export function staticRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.get("/demo.json", (c) => {
    if (!deps.demo) return c.notFound();
    let socket: string | undefined;
    try {
      socket = getConnInfo(c).remote.address;
    } catch {
      socket = undefined;
    }
    const problem = localClientProblem(socket, c.req.raw.headers);
    if (problem !== undefined) {
      throw new DomainError(
        "forbidden",
        `${problem}: open the pages there (http://127.0.0.1:${portOf(c.req.url)}/), or ask ` +
          `the host for a link with a token`,
      );
    }
    c.header("Cache-Control", "no-store");
    return c.json(deps.demo);
  });
  // Browsers ask for /favicon.ico whatever the pages link; the pages link the SVG.
  r.get("/favicon.ico", (c) => c.redirect("/favicon.svg", 301));
  r.get(
    "/*",
    pageSecurityHeaders(
      deps.config.frameAncestors,
      () => deps.cluster?.nodeOrigins() ?? [],
    ),
    async (c, next) => {
      await next();
      if (c.res.ok) c.res.headers.set("Cache-Control", "no-cache");
    },
    serveStatic({ root: relativeRoot() }),
  );
  return r;
}

/** `serveStatic` wants a root relative to the working directory. */
function relativeRoot(): string {
  const cwd = Deno.cwd().replace(/\/?$/, "/");
  return ROOT.startsWith(cwd) ? ROOT.slice(cwd.length) : ROOT;
}

function portOf(url: string): string {
  const u = new URL(url);
  return u.port || (u.protocol === "https:" ? "443" : "80");
}
