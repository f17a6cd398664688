/**
 * Entry point: load the configuration, start the server, print the demo, drain on SIGTERM.
 *
 * @module
 */
import { ConfigError, loadConfig } from "./config.ts";
import { startServer } from "./server.ts";
import { demoBanner } from "./demo.ts";
import { egressPath } from "./media/egress.ts";

let config;
try {
  config = loadConfig();
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(e.message);
  Deno.exit(2);
}

let server;
try {
  server = await startServer(config);
} catch (e) {
  if (!(e instanceof ConfigError)) throw e;
  console.error(e.message);
  Deno.exit(2);
}
console.log(`SFU listening on ${server.url}`);
const egress = egressPath(config.fastEgress);
console.log(
  egress.native
    ? "media egress: native (OpenSSL SRTP + sendmsg on werift's sockets)"
    : `media egress: werift's sender (native path off: ${egress.reason})`,
);
if (server.demo) console.log(demoBanner(server.url, server.demo, config.jwtSecret!));

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  console.log("shutting down: new sessions get 503, live sessions end");
  const timer = setTimeout(() => Deno.exit(1), 5000);
  await server.shutdown();
  clearTimeout(timer);
  Deno.exit(0);
};
Deno.addSignalListener("SIGTERM", stop);
Deno.addSignalListener("SIGINT", stop);
