/**
 * The `/metrics` cells of the native egress path, looked up once (a forwarded packet adds to a
 * cell, never looks up a series): datagrams sent on the connection's socket, protected here and
 * sent through werift's connection, dropped, and system calls made. The shared batch's
 * `sendQueued` (native/datagram-batch.ts) adds to them through {@link QUEUED_COUNTS}, which the
 * egress scheduler hands it.
 *
 * @module
 */
import { metrics } from "../metrics/counters.ts";
import type { QueuedCounts } from "./native/datagram-batch.ts";

/** Per-datagram counters of `/metrics`. */
export const COUNTED = {
  native: metrics.egressPackets.cell("native"),
  nativeSrtp: metrics.egressPackets.cell("native-srtp"),
  dropped: metrics.egressDropped.cell(),
  calls: metrics.egressSends.cell(),
};

/** The counters the shared batch's `sendQueued` adds to. */
export const QUEUED_COUNTS: QueuedCounts = {
  sent: COUNTED.native,
  dropped: COUNTED.dropped,
  calls: COUNTED.calls,
};
