/**
 * Recordings of a room, for its host: `POST /rooms/{room}/recordings` starts recording a
 * publisher (JSON `{"publisher": id}`, the host by default), `GET` lists the room's recordings,
 * `DELETE …/recordings/{id}` stops one and `GET …/recordings/{id}` downloads its WebM file
 * (`Range` supported: 206, or 416). With `RECORDINGS_DIR` unset every one of them is 404
 * `not-found` saying that recording is off.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { z } from "zod";
import type { AppDeps } from "../src/http/deps.ts";
import type { Principal } from "../src/auth/rights.ts";
import { requireHost } from "../src/auth/rights.ts";
import { DomainError, ForbiddenError } from "../src/errors.ts";
import {
  methodNotAllowed,
  pathRoom,
  principal,
  readJson,
  refuseWhileDraining,
} from "../src/http/request.ts";
import type { Recordings } from "../src/recording/recordings.ts";

const Start = z.strictObject({ publisher: z.string().min(1).max(256).optional() });

/** A byte range of a file of `size` bytes: `[start, end]` inclusive. */
export type ByteRange = { start: number; end: number };

/**
 * The one range of a `Range` header for a file of `size` bytes (RFC 9110 §14): undefined to
 * send the whole file (no header, another unit, several ranges), "unsatisfiable" for 416.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | "unsatisfiable" | undefined {
  const m = header && /^bytes=\s*(\d*)-(\d*)\s*$/.exec(header);
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") { // the last n bytes
    const n = Number(m[2]);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}

/** The recording routes. */
export function recordingRoutes(deps: AppDeps): Hono {
  const r = new Hono();
  const enabled = (): Recordings => {
    if (deps.recordings) return deps.recordings;
    throw new DomainError(
      "not-found",
      "recording is off on this server: its operator turns it on by setting RECORDINGS_DIR",
    );
  };
  /** The host of `name` (a host token for it, and the open room's own host). */
  const host = async (c: Context, name: string, action: string): Promise<Principal> => {
    const who = await principal(c, deps);
    requireHost(who, name, action);
    const room = deps.rooms.get(name);
    if (room && room.host !== who.sub) {
      throw new ForbiddenError(`only the room's host may ${action}`);
    }
    return who;
  };

  r.post("/rooms/:room/recordings", async (c) => {
    const recordings = enabled();
    refuseWhileDraining(deps.lifecycle);
    const name = pathRoom(c);
    const who = await host(c, name, "record it");
    const body = Start.parse((await readJson(c)) ?? {});
    const room = deps.rooms.member(who, name); // 404 when the room is not open
    const { view, created } = await recordings.start(room, body.publisher ?? room.host);
    c.header("Location", `/rooms/${encodeURIComponent(name)}/recordings/${view.id}`);
    return c.json(view, created ? 201 : 200);
  });
  r.get("/rooms/:room/recordings", async (c) => {
    const recordings = enabled();
    const name = pathRoom(c);
    await host(c, name, "list its recordings");
    return c.json({ room: name, recordings: await recordings.list(name) });
  });
  r.delete("/rooms/:room/recordings/:id", async (c) => {
    const recordings = enabled();
    const name = pathRoom(c);
    await host(c, name, "stop a recording");
    return c.json(await recordings.stop(name, c.req.param("id")));
  });
  r.get("/rooms/:room/recordings/:id", async (c) => {
    const recordings = enabled();
    const name = pathRoom(c);
    await host(c, name, "download its recordings");
    const file = await recordings.file(name, c.req.param("id"));
    return await download(c, file.path, file.name);
  });
  r.all("/rooms/:room/recordings", methodNotAllowed("GET, HEAD, OPTIONS, POST"));
  r.all("/rooms/:room/recordings/:id", methodNotAllowed("GET, HEAD, OPTIONS, DELETE"));
  return r;
}

/** The file (or the one range asked for) as `video/webm`. */
async function download(c: Context, path: string, name: string): Promise<Response> {
  const file = await Deno.open(path, { read: true });
  let size: number;
  try {
    size = (await file.stat()).size;
  } catch (e) {
    file.close();
    throw e;
  }
  const headers = new Headers({
    "Content-Type": "video/webm",
    "Accept-Ranges": "bytes",
    "Content-Disposition": `attachment; filename="${name}"`,
  });
  const range = parseRange(c.req.header("Range"), size);
  if (range === "unsatisfiable") {
    file.close();
    headers.set("Content-Type", "application/problem+json");
    headers.set("Content-Range", `bytes */${size}`);
    headers.delete("Content-Disposition");
    const body = {
      type: "/problems/range-not-satisfiable",
      title: "Range not satisfiable",
      status: 416,
      detail: `the file has ${size} bytes; the range ${c.req.header("Range")} is outside it`,
      instance: c.req.path,
    };
    return new Response(JSON.stringify(body), { status: 416, headers });
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  const length = Math.max(0, end - start + 1);
  headers.set("Content-Length", String(length));
  if (range) headers.set("Content-Range", `bytes ${start}-${end}/${size}`);
  if (c.req.method === "HEAD" || length === 0) {
    file.close();
    return new Response(null, { status: range ? 206 : 200, headers });
  }
  await file.seek(start, Deno.SeekMode.Start);
  let left = length;
  const body = file.readable.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (left <= 0) return;
        const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
        left -= part.length;
        controller.enqueue(part);
        if (left <= 0) controller.terminate();
      },
    }),
  );
  return new Response(body, { status: range ? 206 : 200, headers });
}
