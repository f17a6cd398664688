/**
 * The pages of `static/`, and `/demo.json` (demo tokens, in demo mode only).
 *
 * @module
 */
import { Hono } from "hono";
import { serveStatic } from "hono/deno";
import type { AppDeps } from "../src/http/app.ts";

const ROOT = new URL("../static/", import.meta.url).pathname;

/**
 * Static files. There is no build step and no hashed file names, so browsers revalidate every
 * file (`no-cache`: a 304 when unchanged) and pick up a new version of the pages at once.
 */
export function staticRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.get("/demo.json", (c) => {
    if (!deps.demo) return c.notFound();
    c.header("Cache-Control", "no-store");
    return c.json(deps.demo);
  });
  r.get("/*", async (c, next) => {
    await next();
    if (c.res.ok) c.res.headers.set("Cache-Control", "no-cache");
  }, serveStatic({ root: relativeRoot() }));
  return r;
}

/** `serveStatic` wants a root relative to the working directory. */
function relativeRoot(): string {
  const cwd = Deno.cwd().replace(/\/?$/, "/");
  return ROOT.startsWith(cwd) ? ROOT.slice(cwd.length) : ROOT;
}
