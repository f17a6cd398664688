/**
 * The recordings of the server (`RECORDINGS_DIR`): a host starts one per publisher of its room,
 * each a {@link Recorder} on that publisher's feed writing one WebM file under
 * `RECORDINGS_DIR/<room>/`; lists them, stops them, finds their files. The room's events say
 * when a recording starts (its first frame is written) and stops (and why). No HTTP here.
 *
 * @module
 */
import { join } from "node:path";
import { DomainError, NotFoundError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Room } from "../rooms/room.ts";
import type { Kind } from "../media/publication.ts";
import type { Feed } from "../media/feed.ts";
import { Recorder, type StopReason } from "./recorder.ts";
import { inside, isRecordingId, newRecordingId, recordingFileName, roomFolder } from "./names.ts";

/** The JSON view of a recording (`GET /rooms/{room}/recordings`). */
export interface RecordingView {
  /** Id (16 hex digits), in the recording's URL. */
  id: string;
  /** The recorded publisher. */
  publisher: string;
  /** File name inside the room's folder. */
  name: string;
  /** `waiting` for a keyframe, `recording`, `done`, or `failed` (a write error ended it). */
  state: "waiting" | "recording" | "done" | "failed";
  /** Bytes written. */
  size: number;
  /** Seconds of media; null when unknown (a file of an earlier run). */
  duration: number | null;
  /** Codec names per kind, as published. */
  codecs: Partial<Record<Kind, string>>;
  /** When the first frame was written (ISO 8601). */
  startedAt?: string;
  /** When it ended. */
  endedAt?: string;
  /** Why it ended. */
  reason?: StopReason | "room-closed";
  /** The write error, when one ended it. */
  error?: string;
}

/** Recordings running (or waiting) at once in one room; more POSTs get 429. */
export const MAX_ROOM_RECORDINGS = 8;
/** Recordings running (or waiting) at once on the server; more POSTs get 503. */
export const MAX_RECORDINGS = 64;
/** Ended recordings remembered (their files stay listed from the disk when forgotten). */
const MAX_REMEMBERED = 1000;

interface Entry {
  id: string;
  room: string;
  publisher: string;
  name: string;
  path: string;
  recorder: Recorder;
  feed: Feed;
  reason?: StopReason | "room-closed";
  error?: string;
}

/** Checks that `dir` is a folder this process can write (creating it); throws a sentence. */
export async function checkRecordingsDir(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
    const probe = join(dir, `.write-test-${Deno.pid}`);
    await Deno.writeFile(probe, new Uint8Array(1));
    await Deno.remove(probe);
  } catch (e) {
    const why = e instanceof Deno.errors.NotCapable
      ? "this process was not started with write access to it (deno task start grants it)"
      : e instanceof Deno.errors.PermissionDenied
      ? "the file system refuses writing there (check the folder's owner and mode)"
      : (e as Error).message;
    throw new Error(`cannot write recordings to ${dir}: ${why}`);
  }
}

/** Every recording of this process, by room. */
export class Recordings {
  readonly #dir: string;
  readonly #log: Logger;
  #entries = new Map<string, Entry>();
  #watched = new WeakSet<Room>();

  /** Recordings under `dir` (checked with {@link checkRecordingsDir} first). */
  constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  /**
   * Starts recording `publisher` in `room` (live now or later). A recording of that publisher
   * still running is returned instead (`created: false`).
   */
  async start(room: Room, publisher: string): Promise<{ view: RecordingView; created: boolean }> {
    for (const e of this.#entries.values()) {
      if (e.room === room.name && e.publisher === publisher && !e.recorder.endedAt) {
        return { view: this.#view(e), created: false };
      }
    }
    const running = [...this.#entries.values()].filter((e) => !e.recorder.endedAt);
    if (running.filter((e) => e.room === room.name).length >= MAX_ROOM_RECORDINGS) {
      throw new DomainError(
        "too-many-requests",
        `the room already has ${MAX_ROOM_RECORDINGS} recordings running: stop one first`,
        { retryAfter: 10 },
      );
    }
    if (running.length >= MAX_RECORDINGS) {
      throw new DomainError(
        "unavailable",
        `the server is at its limit of ${MAX_RECORDINGS} recordings running`,
        { retryAfter: 30 },
      );
    }
    this.#forgetOld();
    const folder = roomFolder(this.#dir, room.name);
    try {
      await Deno.mkdir(folder, { recursive: true });
    } catch (e) {
      throw new DomainError("unavailable", `cannot create the room's recordings folder: ${e}`);
    }
    const id = newRecordingId();
    const name = recordingFileName(publisher, id, new Date());
    const path = inside(this.#dir, join(folder, name));
    const entry = { id, room: room.name, publisher, name, path } as Entry;
    entry.recorder = new Recorder(path, {
      started: () => {
        this.#log.info("recording started", { room: room.name, publisher, id, file: path });
        room.events.emit({ type: "recording-started", id, publisher, name });
      },
      ended: (reason, error) => this.#ended(room, entry, reason, error),
    });
    this.#entries.set(id, entry);
    this.#watch(room);
    entry.feed = room.feed(publisher);
    entry.feed.subscribe(entry.recorder);
    return { view: this.#view(entry), created: true };
  }

  /** Stops the recording `id` of `room` and waits for its file to be finalised. */
  async stop(room: string, id: string): Promise<RecordingView> {
    const entry = this.#entry(room, id);
    await entry.recorder.stop("stopped");
    return this.#view(entry);
  }

  /** The recordings of `room`: this run's, then files of earlier runs found in its folder. */
  async list(room: string): Promise<RecordingView[]> {
    const views = [...this.#entries.values()].filter((e) => e.room === room).map((e) =>
      this.#view(e)
    );
    const known = new Set(views.map((v) => v.name));
    try {
      for await (const f of Deno.readDir(roomFolder(this.#dir, room))) {
        const m = /_([0-9a-f]{16})\.webm$/.exec(f.name);
        if (!f.isFile || !m || known.has(f.name)) continue;
        const { size } = await Deno.stat(join(roomFolder(this.#dir, room), f.name));
        views.push({
          id: m[1],
          publisher: "",
          name: f.name,
          state: "done",
          size,
          duration: null,
          codecs: {},
        });
      }
    } catch {
      // no folder yet
    }
    return views;
  }

  /** The finished file of recording `id` of `room` (this run's or an earlier one's). */
  async file(room: string, id: string): Promise<{ path: string; name: string }> {
    if (!isRecordingId(id)) throw new NotFoundError("no such recording");
    const entry = this.#entries.get(id);
    if (entry && entry.room === room) {
      if (!entry.recorder.hasFile) throw new NotFoundError("the recording has no media");
      return { path: entry.path, name: entry.name };
    }
    const folder = roomFolder(this.#dir, room);
    try {
      for await (const f of Deno.readDir(folder)) {
        if (f.isFile && f.name.endsWith(`_${id}.webm`)) {
          return { path: inside(this.#dir, join(folder, f.name)), name: f.name };
        }
      }
    } catch {
      // no folder
    }
    throw new NotFoundError("no such recording");
  }

  /** Stops every running recording (shutdown) and waits for the files. */
  async stopAll(reason: StopReason = "shutdown"): Promise<void> {
    await Promise.all(
      [...this.#entries.values()].filter((e) => !e.recorder.endedAt).map((e) =>
        e.recorder.stop(reason)
      ),
    );
  }

  /** Drops the oldest ended recordings from memory beyond {@link MAX_REMEMBERED}. */
  #forgetOld(): void {
    const ended = [...this.#entries.values()].filter((e) => e.recorder.endedAt);
    for (const e of ended.slice(0, Math.max(0, ended.length - MAX_REMEMBERED))) {
      this.#entries.delete(e.id);
    }
  }

  #entry(room: string, id: string): Entry {
    const entry = this.#entries.get(id);
    if (!entry || entry.room !== room) throw new NotFoundError("no such recording");
    return entry;
  }

  /** Ends the room's waiting recordings when it closes (those with media end with it). */
  #watch(room: Room): void {
    if (this.#watched.has(room)) return;
    this.#watched.add(room);
    room.events.on((e) => {
      if (e.type !== "room-closed") return;
      for (const entry of this.#entries.values()) {
        if (entry.room !== room.name || entry.recorder.endedAt) continue;
        entry.reason = "room-closed";
        entry.recorder.stop("stopped");
      }
    });
  }

  #ended(room: Room, entry: Entry, reason: StopReason, error?: Error): void {
    entry.reason ??= reason;
    entry.error = error?.message;
    entry.feed.unsubscribe(entry.recorder);
    const { size, duration } = entry.recorder;
    const fields = { room: room.name, publisher: entry.publisher, id: entry.id, reason, size };
    if (error) this.#log.error("recording failed", { ...fields, error: error.message });
    else this.#log.info("recording stopped", { ...fields, duration });
    room.events.emit({
      type: "recording-stopped",
      id: entry.id,
      publisher: entry.publisher,
      name: entry.name,
      reason: entry.reason,
      ...(error ? { error: error.message } : {}),
    });
  }

  #view(e: Entry): RecordingView {
    const r = e.recorder;
    return {
      id: e.id,
      publisher: e.publisher,
      name: e.name,
      state: r.state,
      size: r.size,
      duration: Math.round(r.duration) / 1000,
      codecs: r.codecs,
      ...(r.startedAt ? { startedAt: r.startedAt.toISOString() } : {}),
      ...(r.endedAt ? { endedAt: r.endedAt.toISOString() } : {}),
      ...(e.reason ? { reason: e.reason } : {}),
      ...(e.error ? { error: e.error } : {}),
    };
  }
}
