/**
 * The text printed at start in demo mode: tokens, URLs, and copy-pasteable curl / OBS settings.
 *
 * @module
 */
import type { Demo } from "./server.ts";

/** Renders the demo banner. */
export function demoBanner(url: string, demo: Demo, secret: Uint8Array): string {
  const room = encodeURIComponent(demo.room);
  return `
Demo mode (no JWT_SECRET or JWT_JWKS_FILE set): a secret was generated for this run and the
room "${demo.room}" is open.

  JWT_SECRET (this run only)  ${new TextDecoder().decode(secret)}
  host token                  ${demo.hostToken}
  participant token           ${demo.participantToken}

Pages:   ${url}/
OBS:     Settings → Stream → Service "WHIP"
         Server       ${url}/whip/${room}
         Bearer Token ${demo.hostToken}
Publish with curl (any offer file, e.g. from tests/fixtures/):
  curl -i -X POST ${url}/whip/${room} -H "Authorization: Bearer ${demo.hostToken}" \\
       -H "Content-Type: application/sdp" --data-binary @offer.sdp
Play with curl (server-offer mode: empty body):
  curl -i -X POST ${url}/whep/${room} -H "Authorization: Bearer ${demo.participantToken}"
More tokens:
  JWT_SECRET='${
    new TextDecoder().decode(secret)
  }' deno task token --room ${demo.room} --role participant --sub alice
`;
}
