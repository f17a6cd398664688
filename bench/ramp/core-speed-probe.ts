/**
 * The core-speed probe's process (core-speed.ts): every 100 ms it times a fixed computation in
 * its own CPU time and reports `{ev: "sample", at, us}`; it ends at `stop` or end of input.
 *
 * @module
 */
import process from "node:process";
import { emit, readCommands } from "../load/common.ts";

/** A fixed computation (≈ 0.3 ms on this bench's machines at full speed). */
function unit(): number {
  let x = 0;
  for (let i = 0; i < 200_000; i++) x = (Math.imul(x, 1103515245) + i) | 0;
  return x;
}

let running = true;
let sink = 0;
const timer = setInterval(() => {
  if (!running) return;
  const a = process.cpuUsage();
  sink ^= unit();
  const b = process.cpuUsage(a);
  emit({ ev: "sample", at: Date.now(), us: b.user + b.system, sink: sink & 1 });
}, 100);
await readCommands((cmd) => {
  if (cmd.cmd === "stop") running = false;
});
clearInterval(timer);
