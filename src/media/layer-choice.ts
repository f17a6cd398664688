/**
 * Which simulcast layer a player gets: the one it pinned (WHEP layer extension), else the
 * best layer that fits the player's bandwidth estimate (REMB), else the highest active one.
 *
 * @module
 */
import type { LayerInfo } from "./layer.ts";

/** Headroom kept under the estimate: a layer fits when its bitrate ≤ estimate × this. */
export const FIT = 0.9;

/**
 * Chooses a layer rid among `layers`, or undefined when there is none.
 * @param estimate the player's estimated available bitrate in bit/s (undefined: unknown)
 * @param pinned a rid the player asked for, honoured when that layer exists
 */
export function chooseLayer(
  layers: readonly LayerInfo[],
  estimate: number | undefined,
  pinned?: string,
): string | undefined {
  if (layers.length === 0) return undefined;
  if (pinned !== undefined && layers.some((l) => l.rid === pinned)) return pinned;
  const active = layers.filter((l) => l.bitrate > 0);
  const pool = [...(active.length ? active : layers)].sort((a, b) => b.bitrate - a.bitrate);
  if (!estimate) return pool[0].rid;
  return (pool.find((l) => l.bitrate <= estimate * FIT) ?? pool[pool.length - 1]).rid;
}
