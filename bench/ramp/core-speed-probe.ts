/**
 * The core-speed probe's process (core-speed.ts): every 100 ms it times a fixed piece of work in
 * its own CPU time and reports `{ev: "sample", at, us}`; it ends at `stop` or end of input.
 *
 * The work is a walk through 8 MiB in a random order (one dependent load after another, so the
 * caches and memory the server also depends on set its pace) and a short arithmetic loop. A
 * sample is the cheapest of three back-to-back runs: an interrupt (on loopback, the network
 * softirqs of the server's sends) charges its time to whatever task it interrupts, and would
 * otherwise read as a slow core when the server is busy; a slowed core slows all three.
 *
 * @module
 */
import process from "node:process";
import { emit, readCommands } from "../load/common.ts";

const SIZE = 1 << 21; // entries of 4 bytes: 8 MiB, larger than a core's own caches
const next = new Int32Array(SIZE);
{
  // one random cycle through every entry (Sattolo's shuffle)
  const order = new Int32Array(SIZE);
  for (let i = 0; i < SIZE; i++) order[i] = i;
  for (let i = SIZE - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (let i = 0; i < SIZE; i++) next[order[i]] = order[(i + 1) % SIZE];
}
let at = 0;

/** One run: 1,000 dependent loads and 50,000 multiply-adds (≈ 0.2 ms at full speed). */
function run(): number {
  for (let i = 0; i < 1000; i++) at = next[at];
  let x = at;
  for (let i = 0; i < 50_000; i++) x = (Math.imul(x, 1103515245) + i) | 0;
  return x;
}

let running = true;
let sink = 0;
const timer = setInterval(() => {
  if (!running) return;
  let best = Infinity;
  for (let k = 0; k < 3; k++) {
    const a = process.cpuUsage();
    sink ^= run();
    const b = process.cpuUsage(a);
    best = Math.min(best, b.user + b.system);
  }
  emit({ ev: "sample", at: Date.now(), us: best, sink: sink & 1 });
}, 100);
await readCommands((cmd) => {
  if (cmd.cmd === "stop") running = false;
});
clearInterval(timer);
