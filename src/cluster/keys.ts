/**
 * The directory's Redis keys and Lua scripts, in one place.
 *
 * Keys (`prefix` defaults to `sfu:`):
 * - `<prefix>node:<id>` → JSON {@link NodeEntry}, with the node's lease as its TTL;
 * - `<prefix>room:<name>` → the encoded id of the room's origin node, with the room's lease.
 *
 * Room names and node ids go into keys percent-encoded (`encodeURIComponent`, room names in NFC
 * first), so every key is printable ASCII, a glob character in a name cannot widen a `SCAN MATCH`,
 * and the stored owner is the node key's own suffix, which the scripts can join without decoding.
 *
 * @module
 */

/** What `<prefix>node:<id>` holds. */
export interface NodeEntry {
  /** The node's id. */
  id: string;
  /** Its public base URL (where edges pull from it over WHEP). */
  url: string;
  /** Its load, as its load callback reports it (e.g. live sessions). */
  load: number;
  /** When it started, ms since the epoch. */
  startedAt: number;
}

/** Longest room name the directory accepts, in characters (the server's own limit is 64). */
export const MAX_ROOM_NAME = 256;

/** The key names of one directory namespace. */
export class Keys {
  /** @param prefix put before every key (default `sfu:`). */
  constructor(readonly prefix = "sfu:") {}

  /** The prefix of every node key; joined with an encoded id by the scripts. */
  get nodePrefix(): string {
    return `${this.prefix}node:`;
  }

  /** The key of node `id`. */
  node(id: string): string {
    return this.nodePrefix + encodeURIComponent(id);
  }

  /** The `SCAN MATCH` pattern of every node key (glob characters of the prefix escaped). */
  get nodePattern(): string {
    return this.nodePrefix.replace(/[*?[\]\\]/g, "\\$&") + "*";
  }

  /** The key of room `name`. */
  room(name: string): string {
    return `${this.prefix}room:${encodeURIComponent(name.normalize("NFC"))}`;
  }

  /** The `SCAN MATCH` pattern of every room key. */
  get roomPattern(): string {
    return `${this.prefix}room:`.replace(/[*?[\]\\]/g, "\\$&") + "*";
  }
}

/** Decodes an owner as stored in a room key (the encoded node id). */
export function ownerId(stored: string): string {
  try {
    return decodeURIComponent(stored);
  } catch {
    return stored;
  }
}

/** Parses a node key's value; undefined when it is not a node entry. */
export function parseNode(json: string): NodeEntry | undefined {
  try {
    const v = JSON.parse(json) as Partial<NodeEntry>;
    if (typeof v.id !== "string" || typeof v.url !== "string") return undefined;
    return {
      id: v.id,
      url: v.url,
      load: typeof v.load === "number" ? v.load : 0,
      startedAt: typeof v.startedAt === "number" ? v.startedAt : 0,
    };
  } catch {
    return undefined;
  }
}

/**
 * Claims (or keeps) rooms for a node, atomically. KEYS[1]: the node's key; KEYS[2..]: room keys.
 * ARGV: encoded node id, room lease ms, node key prefix, node JSON, node lease ms.
 * The node's key is written back when it has lapsed (a room must never point at a node that
 * reads as dead). Each room is taken when it is free, already ours, or held by a node whose lease
 * lapsed; otherwise it is left alone. Returns, per room, the owner and that owner's node JSON
 * (`""` when the owner is us).
 */
export const CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
local out = {}
for i = 2, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  local node = false
  if owner and owner ~= ARGV[1] then
    node = redis.call('GET', ARGV[3] .. owner)
  end
  if node then
    out[#out + 1] = owner
    out[#out + 1] = node
  else
    redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
    out[#out + 1] = ARGV[1]
    out[#out + 1] = ''
  end
end
return out
`;

/**
 * The live origin of a room. KEYS[1]: room key; ARGV[1]: node key prefix.
 * Returns {owner, node JSON}, or nil when the room is free or its origin's lease lapsed.
 */
export const LOOKUP = `
local owner = redis.call('GET', KEYS[1])
if not owner then return false end
local node = redis.call('GET', ARGV[1] .. owner)
if not node then return false end
return {owner, node}
`;

/**
 * Compare-and-delete: deletes each of KEYS that still holds ARGV[1]; returns how many.
 */
export const RELEASE = `
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    n = n + redis.call('DEL', KEYS[i])
  end
end
return n
`;
