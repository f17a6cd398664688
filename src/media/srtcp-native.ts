/**
 * Moved to werift/srtcp.ts (werift is quarantined in src/media/werift/); this name stays for
 * bench/load, which imports it.
 *
 * @module
 */
export * from "./werift/srtcp.ts";
