/**
 * The HTTP listener's watchdog probe (listener.ts): how often it checks that the listening socket
 * still accepts, and the verdict on one probe connection — on a clock a test can move.
 *
 * @module
 */

/** How often the watchdog checks that the listening socket still accepts, ms. */
export const PROBE_INTERVAL_MS = 2000;
/** How long a probe connection may take to be accepted before the socket is replaced, ms. */
export const PROBE_TIMEOUT_MS = 1000;
/** How often a probe looks whether its connection was accepted, ms. */
export const PROBE_TURN_MS = 20;
/** A turn of the event loop later than this makes a probe give no verdict, ms. */
export const PROBE_LAG_MS = 100;

/** The clock a probe waits on (a test gives its own). */
export interface ProbeClock {
  /** `performance.now()`. */
  now(): number;
  /** Resolves after `ms`, or later when the event loop is busy. */
  sleep(ms: number): Promise<void>;
}

const REAL_CLOCK: ProbeClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * The watchdog's verdict on a probe connected since `started` (the clock's time): true once
 * `accepted()` says a connection was accepted since then; false when none was within
 * {@link PROBE_TIMEOUT_MS} and one turn more; undefined (no verdict) when that wait — or the
 * connect before it — had a turn of the event loop later than {@link PROBE_LAG_MS}: a busy loop
 * delays the accept too, and replacing a live socket would drop every connection in its backlog
 * (a join storm that kept the loop busy for seconds made the watchdog do exactly that).
 */
export async function awaitAccept(
  started: number,
  accepted: () => boolean,
  clock: ProbeClock = REAL_CLOCK,
): Promise<boolean | undefined> {
  let lagged = clock.now() - started > PROBE_LAG_MS;
  const turn = async () => {
    const asked = clock.now();
    await clock.sleep(PROBE_TURN_MS);
    if (clock.now() - asked > PROBE_TURN_MS + PROBE_LAG_MS) lagged = true;
  };
  const deadline = started + PROBE_TIMEOUT_MS;
  while (!accepted() && clock.now() < deadline) await turn();
  if (!accepted()) await turn(); // an accept that completed with the last turn
  if (accepted()) return true;
  return lagged ? undefined : false;
}
