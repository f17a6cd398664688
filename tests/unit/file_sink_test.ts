import assert from "node:assert/strict";
import { FileSink, type SinkFile } from "../../src/recording/file-sink.ts";

/** A file whose writes complete when the test says so; what was written, in order. */
function heldFile() {
  const written: number[][] = [];
  const pending: (() => void)[] = [];
  const file: SinkFile = {
    write(bytes: Uint8Array) {
      return new Promise<number>((resolve) => {
        pending.push(() => {
          written.push([...bytes]);
          resolve(bytes.length);
        });
      });
    },
    seek: () => Promise.resolve(0),
    close() {},
  };
  return { file, written, pending };
}

Deno.test("file sink: bytes queued in any microtask after the last write completes still reach the file before close resolves", async () => {
  // The writing loop ends, then its promise's `finally` runs a few microtasks later; bytes queued
  // in between (a recording's Duration and Cues at shutdown) were left in the queue.
  for (let ticks = 0; ticks < 12; ticks++) {
    const { file, written, pending } = heldFile();
    const sink = new FileSink("unused", (e) => assert.fail(e), () => Promise.resolve(file));
    sink.append(new Uint8Array([1]));
    while (pending.length === 0) await new Promise((r) => setTimeout(r, 0));
    pending.shift()!();
    for (let i = 0; i < ticks; i++) await null;
    sink.append(new Uint8Array([2]));
    const closed = sink.close();
    for (let i = 0; i < 50 && written.length < 2; i++) {
      while (pending.length > 0) pending.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    await closed;
    assert.deepEqual(written, [[1], [2]], `queued ${ticks} microtasks after the first write`);
  }
});
