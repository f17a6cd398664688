/**
 * Recording (RECORDINGS_DIR): a real VP8 + Opus publisher recorded through the HTTP API, the
 * file checked with ffprobe and ffmpeg; SIGTERM and SIGKILL during a recording; a full disk;
 * Range downloads; names that must not escape the folder; recording off.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { call, Player, Publisher, until } from "../helpers/clients.ts";
import { testServer } from "../helpers/server.ts";
import { X264Publisher } from "../helpers/ffmpeg.ts";
import {
  decodeErrors,
  finalised,
  probe,
  RoomEvents,
  startTask,
  VpxPublisher,
} from "./recording_media.ts";

const json = { "Content-Type": "application/json" };

async function startRecording(base: string, room: string, token: string, publisher?: string) {
  const r = await call(`${base}/rooms/${encodeURIComponent(room)}/recordings`, token, {
    method: "POST",
    headers: json,
    body: publisher ? JSON.stringify({ publisher }) : "",
  });
  assert.equal(r.status, 201, await r.clone().text());
  assert.match(r.headers.get("Location") ?? "", /\/recordings\/[0-9a-f]{16}$/);
  return await r.json();
}

async function listRecordings(base: string, room: string, token: string) {
  const r = await call(`${base}/rooms/${encodeURIComponent(room)}/recordings`, token);
  assert.equal(r.status, 200);
  return (await r.json()).recordings;
}

async function waitState(base: string, room: string, token: string, id: string, state: string) {
  let last;
  const end = performance.now() + 15_000;
  while (performance.now() < end) {
    last = (await listRecordings(base, room, token)).find((r: { id: string }) => r.id === id);
    if (last?.state === state) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`recording ${id} never ${state}: ${JSON.stringify(last)}`);
}

async function stopRecording(base: string, room: string, token: string, id: string) {
  const r = await call(`${base}/rooms/${encodeURIComponent(room)}/recordings/${id}`, token, {
    method: "DELETE",
  });
  assert.equal(r.status, 200);
  return await r.json();
}

Deno.test("recording a werift VP8 + Opus publisher (deno task start)", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "sfu-rec-" });
  const server = await startTask({ RECORDINGS_DIR: dir });
  const room = "rec";
  const host = await server.token("host", room);
  const publisher = new VpxPublisher();
  const events = new RoomEvents();
  try {
    await publisher.publish(`${server.url}/whip/${room}`, host);
    await events.open(server.url, room, host);

    let view: Record<string, string>;
    await t.step("~10 s recorded, stopped, finalised: ffprobe and ffmpeg agree", async () => {
      const started = await startRecording(server.url, room, host);
      assert.equal(started.publisher, "host");
      const live = await waitState(server.url, room, host, started.id, "recording");
      await new Promise((r) => setTimeout(r, 10_000));
      view = await stopRecording(server.url, room, host, started.id);
      assert.equal(view.state, "done");
      assert.equal(view.reason, "stopped");
      assert.deepEqual(view.codecs, { audio: "opus", video: "VP8" });
      const path = join(dir, room, view.name);
      const wall = (Date.parse(view.endedAt) - Date.parse(live.startedAt)) / 1000;
      assert.ok(wall > 9 && wall < 12, `recorded for ${wall} s`);
      // the time recorded, in media time: what ffmpeg sent meanwhile (less than the wall-clock
      // time when a busy machine slows its encoder below real time)
      const recorded = publisher.mediaSecondsBetween(
        Date.parse(live.startedAt),
        Date.parse(view.endedAt),
      );
      assert.ok(recorded > 0.5 * wall, `ffmpeg sent ${recorded} s of media in ${wall} s`);
      const probed = await probe(path);
      assert.equal(probed.streams.video?.codec, "vp8");
      assert.equal(probed.streams.audio?.codec, "opus");
      for (const kind of ["audio", "video"]) {
        const span = probed.streams[kind].span;
        assert.ok(Math.abs(span - recorded) / recorded < 0.05, `${kind}: ${span} s of ${recorded}`);
      }
      assert.ok(Math.abs(probed.duration - recorded) / recorded < 0.05, `${probed.duration} s`);
      const sent = publisher.audioBetween(Date.parse(live.startedAt), Date.parse(view.endedAt));
      assert.ok(
        probed.streams.audio.packets >= 0.95 * sent,
        `${probed.streams.audio.packets}/${sent}`,
      );
      assert.equal(await decodeErrors(path), "");
      assert.ok(await finalised(path));
      assert.equal((await Deno.stat(path)).size, Number(view.size));
    });

    await t.step("room events say when it started and stopped", async () => {
      await until(() => events.named("recording-stopped").length > 0, "recording-stopped");
      const [started] = events.named("recording-started");
      const [stopped] = events.named("recording-stopped");
      assert.equal(started.id, view.id);
      assert.equal(started.name, view.name);
      assert.equal(stopped.id, view.id);
      assert.equal(stopped.reason, "stopped");
    });

    await t.step("download: whole file, Range 206, suffix range, 416", async () => {
      const url = `${server.url}/rooms/${room}/recordings/${view.id}`;
      const file = await Deno.readFile(join(dir, room, view.name));
      const whole = await call(url, host);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers.get("Content-Type"), "video/webm");
      assert.equal(whole.headers.get("Accept-Ranges"), "bytes");
      assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), file);
      const part = await call(url, host, { headers: { Range: "bytes=100-1099" } });
      assert.equal(part.status, 206);
      assert.equal(part.headers.get("Content-Range"), `bytes 100-1099/${file.length}`);
      assert.deepEqual(new Uint8Array(await part.arrayBuffer()), file.subarray(100, 1100));
      const tail = await call(url, host, { headers: { Range: "bytes=-50" } });
      assert.equal(tail.status, 206);
      assert.deepEqual(new Uint8Array(await tail.arrayBuffer()), file.subarray(file.length - 50));
      const open = await call(url, host, { headers: { Range: `bytes=${file.length - 10}-` } });
      assert.equal(open.status, 206);
      assert.equal((await open.arrayBuffer()).byteLength, 10);
      const outside = await call(url, host, { headers: { Range: `bytes=${file.length}-` } });
      assert.equal(outside.status, 416);
      assert.equal(outside.headers.get("Content-Range"), `bytes */${file.length}`);
      assert.equal(outside.headers.get("Content-Type"), "application/problem+json");
      assert.equal((await outside.json()).status, 416);
    });

    await t.step("only the room's host: 403 for a participant, 404 for an unknown id", async () => {
      const guest = await server.token("guest", room, "participant");
      const r = await call(`${server.url}/rooms/${room}/recordings`, guest);
      assert.equal(r.status, 403);
      assert.equal(r.headers.get("Content-Type"), "application/problem+json");
      await r.body?.cancel();
      const unknown = await call(`${server.url}/rooms/${room}/recordings/0123456789abcdef`, host);
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
      const bad = await call(`${server.url}/rooms/${room}/recordings`, host, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ publisher: 5 }),
      });
      assert.equal(bad.status, 400);
      assert.equal(bad.headers.get("Content-Type"), "application/problem+json");
      await bad.body?.cancel();
    });

    await t.step("SIGTERM during a recording leaves a finalised file", async () => {
      const started = await startRecording(server.url, room, host);
      await waitState(server.url, room, host, started.id, "recording");
      await new Promise((r) => setTimeout(r, 2000));
      const status = await server.stop("SIGTERM");
      assert.equal(status.code, 0, server.output());
      const path = join(dir, room, started.name);
      assert.ok(await finalised(path), "Duration and Cues written");
      const probed = await probe(path);
      assert.ok(probed.duration > 1.5 && probed.duration < 4, `${probed.duration} s`);
      assert.equal(await decodeErrors(path), "");
      assert.match(server.output(), /"recording stopped".*"reason":"shutdown"/);
    });
  } finally {
    await events.close();
    await publisher.close();
    await server.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording: a publisher's reconnect continues the file, timestamps continuous", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sfu-rec-" });
  const server = await testServer({ RECORDINGS_DIR: dir });
  const host = await server.token("host", "again");
  const first = new VpxPublisher();
  const second = new VpxPublisher();
  const events = new RoomEvents();
  try {
    await first.publish(`${server.url}/whip/again`, host);
    await events.open(server.url, "again", host);
    const started = await startRecording(server.url, "again", host);
    const live = await waitState(server.url, "again", host, started.id, "recording");
    await new Promise((r) => setTimeout(r, 3000));
    await second.publish(`${server.url}/whip/again`, host); // takes over at its first keyframe
    await until(() => server.rooms.get("again")!.sessions().length === 1, "the takeover");
    const switchedAt = Date.now();
    await new Promise((r) => setTimeout(r, 3000));
    const view = await stopRecording(server.url, "again", host, started.id);
    assert.equal(view.reason, "stopped");
    assert.equal(events.named("recording-started").length, 1);
    assert.equal(events.named("recording-stopped").length, 1);
    assert.deepEqual([...Deno.readDirSync(join(dir, "again"))].map((e) => e.name), [view.name]);
    const path = join(dir, "again", view.name);
    // the media both sent while recorded (their encoders may run slower than real time on a
    // busy machine; the switch itself is about a keyframe interval, 0.5 s, long)
    const sent = first.mediaSecondsBetween(Date.parse(live.startedAt), switchedAt) +
      second.mediaSecondsBetween(switchedAt, Date.parse(view.endedAt));
    const probed = await probe(path);
    for (const kind of ["audio", "video"]) {
      const { span, gap, monotonic } = probed.streams[kind];
      assert.ok(monotonic, `${kind}: timestamps never go back`);
      assert.ok(gap < 1, `${kind}: the largest gap is ${gap} s`);
      assert.ok(Math.abs(span - sent) / sent < 0.15, `${kind}: ${span} s of ${sent} s sent`);
    }
    assert.equal(await decodeErrors(path), "");
  } finally {
    await events.close();
    await first.close();
    await second.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording a werift VP9 + Opus publisher", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sfu-rec-" });
  const server = await testServer({ RECORDINGS_DIR: dir });
  const host = await server.token("host", "vp9");
  const publisher = new VpxPublisher("vp9");
  try {
    await publisher.publish(`${server.url}/whip/vp9`, host);
    const started = await startRecording(server.url, "vp9", host);
    const live = await waitState(server.url, "vp9", host, started.id, "recording");
    await new Promise((r) => setTimeout(r, 5000));
    const view = await stopRecording(server.url, "vp9", host, started.id);
    assert.deepEqual(view.codecs, { audio: "opus", video: "VP9" });
    const path = join(dir, "vp9", view.name);
    const recorded = publisher.mediaSecondsBetween(
      Date.parse(live.startedAt),
      Date.parse(view.endedAt),
    );
    const probed = await probe(path);
    assert.equal(probed.streams.video?.codec, "vp9");
    assert.equal(probed.streams.audio?.codec, "opus");
    for (const kind of ["audio", "video"]) {
      const span = probed.streams[kind].span;
      assert.ok(Math.abs(span - recorded) / recorded < 0.05, `${kind}: ${span} s of ${recorded}`);
    }
    assert.equal(await decodeErrors(path), "");
  } finally {
    await publisher.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording H.264 whose parameter sets are only in the offer (sprop-parameter-sets)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sfu-rec-" });
  const server = await testServer({ RECORDINGS_DIR: dir });
  const host = await server.token("host", "sprop");
  const publisher = await X264Publisher.create({ parameterSets: "sprop", gop: 30 });
  try {
    await publisher.publish(`${server.url}/whip/sprop`, host);
    const started = await startRecording(server.url, "sprop", host);
    await waitState(server.url, "sprop", host, started.id, "recording");
    await new Promise((r) => setTimeout(r, 3000));
    const view = await stopRecording(server.url, "sprop", host, started.id);
    assert.equal(publisher.parameterSetsInBand, 0, "x264 wrote no SPS or PPS in the stream");
    const path = join(dir, "sprop", view.name);
    const probed = await probe(path);
    assert.equal(probed.streams.video?.codec, "h264");
    assert.ok(probed.streams.video.packets >= 60, `${probed.streams.video.packets} frames`);
    assert.equal(await decodeErrors(path), "");
  } finally {
    await publisher.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recording: a crash (SIGKILL) leaves a file ffmpeg reads up to the crash", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sfu-rec-" });
  const server = await startTask({ RECORDINGS_DIR: dir });
  const host = await server.token("host", "crash");
  const publisher = new VpxPublisher();
  try {
    await publisher.publish(`${server.url}/whip/crash`, host);
    const started = await startRecording(server.url, "crash", host);
    await waitState(server.url, "crash", host, started.id, "recording");
    await new Promise((r) => setTimeout(r, 3000));
    await server.stop("SIGKILL");
    const path = join(dir, "crash", started.name);
    assert.equal(await finalised(path), false);
    const probed = await probe(path);
    assert.ok(probed.streams.video.span > 2, `${probed.streams.video.span} s of video`);
    assert.ok(probed.streams.audio.packets > 100, `${probed.streams.audio.packets} audio packets`);
    assert.equal(await decodeErrors(path), "");
  } finally {
    await publisher.close();
    await server.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

/** A 300 kB folder: a tmpfs when this process may mount one, else a file-size limit. */
async function smallDisk(): Promise<{ dir: string; limit?: number; release(): Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "sfu-rec-full-" });
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=300k", "tmpfs", dir],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => ({ success: false }));
  const release = async () => {
    if (mount.success) await new Deno.Command("umount", { args: [dir] }).output();
    await Deno.remove(dir, { recursive: true });
  };
  return mount.success ? { dir, release } : { dir, limit: 300_000, release };
}

Deno.test("recording: a full disk ends the recording with an event; players play on", async () => {
  const disk = await smallDisk();
  const server = await startTask({ RECORDINGS_DIR: disk.dir }, disk.limit);
  const host = await server.token("host", "full");
  const publisher = new VpxPublisher();
  const player = new Player();
  const events = new RoomEvents();
  try {
    await publisher.publish(`${server.url}/whip/full`, host);
    await player.play(`${server.url}/whep/full`, host);
    await events.open(server.url, "full", host);
    const started = await startRecording(server.url, "full", host);
    await until(() => events.named("recording-stopped").length > 0, "the disk full", 30_000);
    const [stopped] = events.named("recording-stopped");
    assert.equal(stopped.id, started.id);
    assert.equal(stopped.reason, "write-failed");
    assert.match(String(stopped.error), /space|too large|EFBIG|ENOSPC/i);
    const [view] = await listRecordings(server.url, "full", host);
    assert.equal(view.state, "failed");
    assert.match(server.output(), /"recording failed"/);
    const before = player.received.video;
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(player.received.video > before + 20, "the player still receives video");
    const room = await (await call(`${server.url}/rooms/full`, host)).json();
    assert.equal(room.hostLive, true);
  } finally {
    await events.close();
    await player.close();
    await publisher.close();
    await server.stop("SIGKILL");
    await disk.release();
  }
});

Deno.test("recording: names never escape RECORDINGS_DIR; off without it", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "sfu-rec-names-" });
  const server = await testServer({ RECORDINGS_DIR: dir });
  const off = await testServer();
  try {
    const cases = [
      { room: "..🎸", sub: "../../etc/x", folder: (f: string) => f === "%2E%2E%F0%9F%8E%B8" },
      {
        room: "🎸".repeat(64), // 768 bytes encoded: cut, with a hash
        sub: "ünï/🎤\\..",
        folder: (f: string) => /^%F0%9F%8E%B8[%0-9A-F]*~[0-9a-f]{16}$/.test(f) && f.length <= 96,
      },
    ];
    for (const { room, sub, folder } of cases) {
      await t.step(`room ${room.slice(0, 8)}…, publisher ${sub}`, async () => {
        const host = await server.token(sub, room);
        const publisher = new Publisher();
        try {
          await publisher.publish(`${server.url}/whip/${encodeURIComponent(room)}`, host);
          publisher.start(30);
          const started = await startRecording(server.url, room, host);
          await waitState(server.url, room, host, started.id, "recording");
          const view = await stopRecording(server.url, room, host, started.id);
          const found = [...Deno.readDirSync(dir)].filter((e) => folder(e.name));
          assert.equal(found.length, 1, `the room's folder in ${dir}`);
          assert.ok(found[0].isDirectory);
          const files = [...Deno.readDirSync(join(dir, found[0].name))].map((e) => e.name);
          assert.deepEqual(files, [view.name]);
          assert.match(view.name, /^\d{8}T\d{6}Z_[A-Za-z0-9_%-]+_[0-9a-f]{16}\.webm$/);
          assert.ok(!view.name.includes(".."));
        } finally {
          await publisher.close();
        }
      });
    }
    await t.step("8 recordings running in a room at most: the 9th is 429", async () => {
      const host = await server.token("host", "many");
      const open = await call(`${server.url}/rooms/many`, host, { method: "PUT" });
      assert.equal(open.status, 201);
      await open.body?.cancel();
      const ids = [];
      for (let i = 0; i < 8; i++) {
        ids.push((await startRecording(server.url, "many", host, `p${i}`)).id);
      }
      const again = await call(`${server.url}/rooms/many/recordings`, host, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ publisher: "p0" }),
      });
      assert.equal(again.status, 200, "the one running for p0");
      assert.equal((await again.json()).id, ids[0]);
      const ninth = await call(`${server.url}/rooms/many/recordings`, host, {
        method: "POST",
        headers: json,
        body: JSON.stringify({ publisher: "p8" }),
      });
      assert.equal(ninth.status, 429);
      assert.equal(ninth.headers.get("Content-Type"), "application/problem+json");
      await ninth.body?.cancel();
      for (const id of ids) {
        const view = await stopRecording(server.url, "many", host, id);
        assert.equal(view.state, "done");
        assert.equal(view.size, 0); // no media: no file
      }
    });

    await t.step("RECORDINGS_DIR unset: 404 problem that says recording is off", async () => {
      const host = await off.token("host", "r");
      for (const [method, path] of [["POST", ""], ["GET", ""], ["GET", "/0123456789abcdef"]]) {
        const r = await call(`${off.url}/rooms/r/recordings${path}`, host, { method });
        assert.equal(r.status, 404);
        assert.equal(r.headers.get("Content-Type"), "application/problem+json");
        assert.match((await r.json()).detail, /recording is off.*RECORDINGS_DIR/);
      }
    });
  } finally {
    await server.shutdown();
    await off.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("RECORDINGS_DIR that cannot be written: cannot start, exit 2", async () => {
  const file = await Deno.makeTempFile();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "start"],
      cwd: new URL("../../", import.meta.url).pathname,
      env: { RECORDINGS_DIR: join(file, "sub"), PORT: "0", UDP_PORT: "0", TCP_PORT: "0" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1)!;
    assert.match(stderr, /^cannot start: RECORDINGS_DIR: cannot write recordings to /);
  } finally {
    await Deno.remove(file);
  }
});
