/**
 * Security headers of the pages (hono's `secureHeaders`): a Content-Security-Policy that allows
 * only this origin's scripts, styles and connections (the pages are ES modules and a stylesheet
 * from `static/`, with no inline script; `room.html` has one inline `style` attribute, hence
 * `style-src-attr 'unsafe-inline'`), `X-Content-Type-Options: nosniff`, `Referrer-Policy:
 * no-referrer` (page links carry tokens in their query) and `frame-ancestors` from
 * `FRAME_ANCESTORS` (default `*`: any site may embed the player). No `X-Frame-Options`: it cannot
 * express a list, and `frame-ancestors` supersedes it.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";

/**
 * The middleware for the pages; `frameAncestors` is a CSP source list (`*`, `'self'
 * https://a.example`). `connectSources` adds the origins the pages may also call (cluster mode:
 * every node, as a session's URL names the node that holds it).
 */
export function pageSecurityHeaders(
  frameAncestors: string,
  connectSources: () => string[] = () => [],
): MiddlewareHandler {
  const fixed = headersFor(frameAncestors, []);
  let last = "";
  let cached = fixed;
  return (c, next) => {
    const extra = connectSources();
    if (extra.length === 0) return fixed(c, next);
    const key = extra.join(" ");
    if (key !== last) {
      last = key;
      cached = headersFor(frameAncestors, extra);
    }
    return cached(c, next);
  };
}

function headersFor(frameAncestors: string, connect: string[]): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      styleSrcAttr: ["'unsafe-inline'"],
      imgSrc: ["'self'", "data:"],
      mediaSrc: ["'self'", "blob:", "mediastream:"],
      connectSrc: ["'self'", ...connect],
      objectSrc: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
      frameAncestors: frameAncestors.trim().split(/\s+/),
    },
    xContentTypeOptions: "nosniff",
    referrerPolicy: "no-referrer",
    xFrameOptions: false,
    strictTransportSecurity: false, // plain HTTP by default; a TLS front end sets its own
    crossOriginResourcePolicy: false, // /lib/*.js is meant to be loaded by other sites
    crossOriginOpenerPolicy: false,
    crossOriginEmbedderPolicy: false,
  });
}
