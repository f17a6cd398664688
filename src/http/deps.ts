/**
 * What the routes need from the server: the dependencies `createApp` hands to every route
 * module. In its own module so that `routes/` and `src/http/app.ts` do not import each other.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Rooms } from "../rooms/registry.ts";
import type { TokenVerifier } from "../auth/tokens.ts";
import type { WhepExtensions } from "../rooms/whep-extensions.ts";
import type { Logger } from "../log.ts";
import type { RateLimiter } from "./rate-limit.ts";
import type { StreamSlots } from "./sse.ts";
import type { NegotiationGate } from "./negotiations.ts";
import type { MediaPortStats } from "../media/transport/ports.ts";
import type { ClusterRouting } from "./cluster-routing.ts";
import type { Recordings } from "../recording/recordings.ts";

/** What the routes need. */
export interface AppDeps {
  /** Validated configuration. */
  config: Config;
  /** The rooms service. */
  rooms: Rooms;
  /** WHEP server-sent events and layer selection. */
  whep: WhepExtensions;
  /** Token verification. */
  verifier: TokenVerifier;
  /** Set `draining` to refuse new sessions with 503 while shutting down. */
  lifecycle: { draining: boolean };
  /** Structured logger. */
  log: Logger;
  /**
   * Rate limits: authenticated mutating requests per client address (`ip`) and per host or
   * participant identity (`identity`); refused requests (401, 403) per client address (`failed`).
   */
  limits: { ip: RateLimiter; identity: RateLimiter; failed: RateLimiter };
  /** Open event streams, capped per server, client address and identity. */
  streams: StreamSlots;
  /** Offers negotiated at once, per server and per client. */
  negotiations: NegotiationGate;
  /** Counters of the shared media ports (for `/metrics`). */
  mediaPorts: () => MediaPortStats;
  /** Cluster mode (`REDIS_URL`): where a room's requests are answered; absent: one process. */
  cluster?: ClusterRouting & {
    metrics(): string[];
    /** This node's id. */
    readonly id: string;
    /** The origins of the cluster's live nodes (the pages may call them). */
    nodeOrigins(): string[];
  };
  /** Recording (`RECORDINGS_DIR`); absent: recording is off. */
  recordings?: Recordings;
  /** Demo links for the index page, in demo mode. */
  demo?: { room: string; hostToken: string; participantToken: string; viewerToken: string };
}
