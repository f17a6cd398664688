/**
 * Moved to werift/patches.ts (werift is quarantined in src/media/werift/); this name stays for
 * bench/load and the integration tests that import it.
 *
 * @module
 */
export * from "./werift/patches.ts";
