/**
 * The rights of src/auth/rights.ts: an identity is its role and `sub` together; viewers never
 * publish; a participant never publishes under the host's publisher id.
 */
import assert from "node:assert/strict";
import {
  isOwner,
  type Principal,
  requireHost,
  requireOwnerOrHost,
  requirePublisher,
} from "../../src/auth/rights.ts";
import { ForbiddenError } from "../../src/errors.ts";

const who = (role: Principal["role"], sub: string, room = "r"): Principal => ({ role, sub, room });
const forbidden = (fn: () => void, what: string) =>
  assert.throws(fn, (e: unknown) => e instanceof ForbiddenError && e.code === "forbidden", what);

Deno.test("owner = role and sub", () => {
  const hostSession = { room: "r", owner: "alice", role: "host" as const };
  assert.ok(isOwner(who("host", "alice"), hostSession));
  assert.ok(!isOwner(who("participant", "alice"), hostSession));
  assert.ok(!isOwner(who("viewer", "alice"), hostSession));
  requireOwnerOrHost(who("host", "alice"), hostSession, "alice");
  forbidden(() => requireOwnerOrHost(who("participant", "alice"), hostSession, "alice"), "twin");
  forbidden(() => requireOwnerOrHost(who("viewer", "alice"), hostSession, "alice"), "viewer");
  const fanSession = { room: "r", owner: "fan", role: "viewer" as const };
  requireOwnerOrHost(who("viewer", "fan"), fanSession, "alice");
  requireOwnerOrHost(who("host", "alice"), fanSession, "alice");
  forbidden(() => requireOwnerOrHost(who("participant", "fan"), fanSession, "alice"), "role");
  forbidden(() => requireOwnerOrHost(who("viewer", "fan", "other"), fanSession, "alice"), "room");
  // A host token of another sub is not this room's host.
  forbidden(() => requireOwnerOrHost(who("host", "mallory"), fanSession, "alice"), "other host");
});

Deno.test("who may publish and manage", () => {
  requirePublisher(who("host", "alice"), "r", undefined);
  requirePublisher(who("host", "alice"), "r", "alice");
  requirePublisher(who("participant", "bob"), "r", "alice");
  requirePublisher(who("participant", "bob"), "r", undefined);
  forbidden(() => requirePublisher(who("participant", "alice"), "r", "alice"), "host's id");
  forbidden(() => requirePublisher(who("viewer", "fan"), "r", "alice"), "viewer");
  forbidden(() => requirePublisher(who("viewer", "fan"), "r", undefined), "viewer, no room");
  forbidden(() => requirePublisher(who("host", "alice", "x"), "r", undefined), "room");
  requireHost(who("host", "alice"), "r", "close the room");
  forbidden(() => requireHost(who("viewer", "alice"), "r", "close the room"), "viewer");
  forbidden(() => requireHost(who("participant", "alice"), "r", "close the room"), "participant");
});
