/**
 * The pages of `static/`, and `/demo.json` (demo tokens, in demo mode only).
 *
 * @module
 */
import { Hono } from "hono";
import { serveStatic } from "hono/deno";
import type { AppDeps } from "../src/http/app.ts";

const ROOT = new URL("../static/", import.meta.url).pathname;

/** Static files. */
export function staticRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  r.get("/demo.json", (c) => deps.demo ? c.json(deps.demo) : c.notFound());
  r.get("/*", serveStatic({ root: relativeRoot() }));
  return r;
}

/** `serveStatic` wants a root relative to the working directory. */
function relativeRoot(): string {
  const cwd = Deno.cwd().replace(/\/?$/, "/");
  return ROOT.startsWith(cwd) ? ROOT.slice(cwd.length) : ROOT;
}
