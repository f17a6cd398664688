/**
 * Entry point: load the configuration, start the server, print the demo, drain on SIGTERM.
 *
 * @module
 */
import { ConfigError, loadConfig } from "./config.ts";
import { startServer } from "./server.ts";
import { demoBanner, machineInterfaces, startBanner } from "./demo.ts";
import { describeSendPath } from "./media/send-path.ts";
import { checkNetwork, networkBanner, networkFacts } from "./network-check.ts";

/** A configuration error: its sentence on stderr, exit status 2, no stack trace. */
function refuse(e: unknown): never {
  if (!(e instanceof ConfigError)) throw e;
  // One bad variable: one line. Several: the list, one line each.
  const lines = e.message.split("\n");
  const one = lines.length === 2 && lines[0] === "invalid configuration:";
  console.error(`cannot start: ${one ? lines[1].trim() : e.message}`);
  Deno.exit(2);
}

let config;
try {
  config = loadConfig();
} catch (e) {
  refuse(e);
}

let server;
try {
  server = await startServer(config);
} catch (e) {
  refuse(e);
}
console.log(`SFU listening on ${server.url}`);
console.log(describeSendPath(server.sendPath));
console.log(networkBanner(checkNetwork(networkFacts(config, server.ports))));
const { port, protocol } = new URL(server.url);
const listener = { host: config.host, port: Number(port), tls: protocol === "https:" };
const interfaces = machineInterfaces();
if (server.demo) console.log(demoBanner(listener, interfaces, server.demo, config.jwtSecret!));
console.log(startBanner(listener, interfaces));

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
