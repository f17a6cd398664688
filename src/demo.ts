/**
 * The text printed at start: where the server can be reached (every interface's URL when it
 * listens on all of them), how to stop it and, in demo mode, the tokens, links and
 * copy-pasteable curl / OBS settings.
 *
 * @module
 */
import type { Demo } from "./server.ts";

/** One network interface address, as `Deno.networkInterfaces()` lists it. */
export interface InterfaceAddress {
  /** Interface name, e.g. `eth0`. */
  name: string;
  /** `IPv4` or `IPv6`. */
  family: "IPv4" | "IPv6";
  /** The address. */
  address: string;
}

/** What {@link startBanner} needs to know about the listener. */
export interface Listener {
  /** The address the server listens on (`HOST`), e.g. `127.0.0.1` or `0.0.0.0`. */
  host: string;
  /** The port it listens on. */
  port: number;
  /** Whether it serves HTTPS (`TLS_CERT_FILE`): the URLs say `https://`. */
  tls?: boolean;
}

/** Whether `host` is a loopback address or name. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\./.test(h) || /^::ffff:127\./.test(h);
}

/** Whether `host` means every interface. */
export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}

function urlOf(address: string, port: number, tls = false): string {
  const scheme = tls ? "https" : "http";
  return address.includes(":")
    ? `${scheme}://[${address}]:${port}`
    : `${scheme}://${address}:${port}`;
}

/**
 * The URLs a browser can use to reach the listener: for a wildcard `HOST`, `localhost` first,
 * then one per interface address (IPv4; IPv6 too when listening on `::`), link-local IPv6
 * addresses left out (they need a zone). Otherwise the one address itself.
 */
export function listenUrls(listener: Listener, interfaces: InterfaceAddress[]): string[] {
  const { host, port, tls } = listener;
  if (!isWildcardHost(host)) return [urlOf(host === "localhost" ? "127.0.0.1" : host, port, tls)];
  const urls = [urlOf("127.0.0.1", port, tls)];
  const families = host === "0.0.0.0" ? ["IPv4"] : ["IPv4", "IPv6"];
  for (const i of interfaces) {
    if (!families.includes(i.family) || isLoopbackHost(i.address)) continue;
    if (/^fe80:/i.test(i.address)) continue;
    const url = urlOf(i.address, port, tls);
    if (!urls.includes(url)) urls.push(url);
  }
  return urls;
}

/** The interfaces of this machine, or none when `--allow-sys=networkInterfaces` is missing. */
export function machineInterfaces(): InterfaceAddress[] {
  try {
    return Deno.networkInterfaces().map(({ name, family, address }) => ({
      name,
      family,
      address,
    }));
  } catch {
    return [];
  }
}

/** The lines every start prints: the URLs to open, and how to stop. */
export function startBanner(listener: Listener, interfaces: InterfaceAddress[]): string {
  const urls = listenUrls(listener, interfaces);
  const lines: string[] = [];
  if (isWildcardHost(listener.host)) {
    lines.push(`Open the pages at any of these addresses (this machine, then the network's):`);
    for (const url of urls) lines.push(`  ${url}/`);
  } else if (isLoopbackHost(listener.host)) {
    lines.push(`Open the pages on this machine: ${urls[0]}/`);
    lines.push(
      `  (only this machine can reach it; HOST=0.0.0.0 npx -y deno task start opens it to phones`,
      listener.tls
        ? `  and other machines)`
        : `  and other machines — a phone's camera also needs HTTPS, see the README's "HTTPS")`,
    );
  } else {
    lines.push(`Open the pages at ${urls[0]}/`);
  }
  lines.push(`Stop the server with Ctrl-C.`);
  return lines.join("\n");
}

/** Renders the demo banner: tokens, links and ready-to-paste commands for the first URL. */
export function demoBanner(
  listener: Listener,
  interfaces: InterfaceAddress[],
  demo: Demo,
  secret: Uint8Array,
): string {
  const url = listenUrls(listener, interfaces)[0];
  const room = encodeURIComponent(demo.room);
  const secretText = new TextDecoder().decode(secret);
  const opened = !isLoopbackHost(listener.host);
  const warning = opened
    ? `
WARNING: demo mode with HOST=${listener.host}: anyone who can reach this machine can use the
demo room, and the tokens below (including the host token) work for whoever you give them to.
The pages never hand the demo tokens to other machines (/demo.json answers only this machine).
Set JWT_SECRET (or JWT_JWKS_FILE) for anything but a demo.
`
    : "";
  return `
Demo mode (no JWT_SECRET or JWT_JWKS_FILE set): a secret was generated for this run and the
room "${demo.room}" is open.
${warning}
  JWT_SECRET (this run only)  ${secretText}
  host token                  ${demo.hostToken}
  participant token           ${demo.participantToken}
  viewer token                ${demo.viewerToken}

Pages:        ${url}/   (links with the demo tokens${opened ? ", on this machine" : ""})
Viewer link:  ${url}/watch.html?room=${room}&token=${demo.viewerToken}
              (watch only: the link to give an audience)
OBS:     Settings → Stream → Service "WHIP"
         Server       ${url}/whip/${room}
         Bearer Token ${demo.hostToken}
Publish with curl (from the project folder: a sample offer; the answer comes back)${
    listener.tls ? ",\n  with -k added if the certificate is self-signed" : ""
  }:
  curl -i -X POST ${url}/whip/${room} -H "Authorization: Bearer ${demo.hostToken}" \\
       -H "Content-Type: application/sdp" --data-binary @tests/fixtures/obs-style-publish.sdp
Play with curl (server-offer mode: an empty POST returns the server's offer):
  curl -i -X POST ${url}/whep/${room} -H "Authorization: Bearer ${demo.viewerToken}"
More tokens (roles host, participant, viewer):
  JWT_SECRET='${secretText}' npx -y deno task token --room ${demo.room} --role viewer --sub audience
`;
}
