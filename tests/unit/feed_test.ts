import assert from "node:assert/strict";
import { Feed, KEYFRAME_REQUEST_INTERVAL_MS, MEDIA_STALL_MS } from "../../src/media/feed.ts";
import type { Publication, RtpSink } from "../../src/media/publication.ts";
import type { Subscription } from "../../src/media/subscription.ts";
import type { Codec } from "../../src/sdp/offer.ts";
import { Emitter } from "../../src/events.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const OPUS = {
  payloadType: 111,
  name: "opus",
  clockRate: 48000,
  channels: 2,
  fmtp: {},
  rtcpFeedback: [],
} as unknown as Codec;

/** Stand-in for a Publication: Feed only calls `setSink` and `requestKeyframe`, reads `codecs`. */
class FakePublication {
  keyframeRequests = 0;
  sinks: (RtpSink | undefined)[] = [];
  readonly codecs = { audio: OPUS };
  constructor(readonly name: string) {}
  requestKeyframe(): void {
    this.keyframeRequests++;
  }
  setSink(sink: RtpSink | undefined): void {
    this.sinks.push(sink);
  }
  /** The sink currently set (the last one given). */
  get sink(): RtpSink | undefined {
    return this.sinks.at(-1);
  }
  get asPublication(): Publication {
    return this as unknown as Publication;
  }
}

/**
 * Stand-in for a Subscription: Feed calls `attach` (a source became live for it), `detach`,
 * `send`, and listens to `keyframeRequests`.
 */
class FakeSubscription {
  sourceChanges = 0;
  detaches = 0;
  sent: unknown[][] = [];
  readonly keyframeRequests = new Emitter<string | undefined>();
  attach(): void {
    this.sourceChanges++;
  }
  detach(): void {
    this.detaches++;
  }
  send(...args: unknown[]): void {
    this.sent.push(args);
  }
  get asSubscription(): Subscription {
    return this as unknown as Subscription;
  }
}

Deno.test("Feed keyframe requests are rate-limited, none lost", async (t) => {
  const feed = new Feed();
  const pub = new FakePublication("a");
  const sub = new FakeSubscription();
  try {
    await t.step("setSource asks the new publication for a keyframe at once", () => {
      feed.setSource(pub.asPublication);
      assert.equal(pub.keyframeRequests, 1);
    });

    await sleep(KEYFRAME_REQUEST_INTERVAL_MS + 50);

    await t.step("10 quick requests: one sent at once", () => {
      feed.subscribe(sub.asSubscription);
      for (let i = 0; i < 10; i++) sub.keyframeRequests.emit(undefined);
      assert.equal(pub.keyframeRequests, 2);
    });

    await t.step("nothing more before the interval ends", async () => {
      await sleep(KEYFRAME_REQUEST_INTERVAL_MS / 2);
      assert.equal(pub.keyframeRequests, 2);
    });

    await t.step("one deferred request once the interval ends", async () => {
      await sleep(KEYFRAME_REQUEST_INTERVAL_MS / 2 + 100);
      assert.equal(pub.keyframeRequests, 3);
    });

    await t.step("and no more after that", async () => {
      await sleep(KEYFRAME_REQUEST_INTERVAL_MS + 100);
      assert.equal(pub.keyframeRequests, 3);
    });
  } finally {
    feed.close();
  }
});

Deno.test("Feed: a request right after setSource is deferred, not dropped", async () => {
  const feed = new Feed();
  const pub = new FakePublication("a");
  try {
    feed.setSource(pub.asPublication);
    feed.requestKeyframe();
    feed.requestKeyframe();
    assert.equal(pub.keyframeRequests, 1);
    await sleep(KEYFRAME_REQUEST_INTERVAL_MS + 100);
    assert.equal(pub.keyframeRequests, 2);
  } finally {
    feed.close();
  }
});

Deno.test("Feed: close() cancels a pending request", async () => {
  const feed = new Feed();
  const pub = new FakePublication("a");
  feed.setSource(pub.asPublication);
  feed.requestKeyframe(); // deferred: a timer is pending
  feed.close(); // the op sanitizer fails this test if the timer survives
  assert.equal(pub.keyframeRequests, 1);
  assert.equal(pub.sink, undefined);
  assert.equal(feed.live, false);
  await sleep(KEYFRAME_REQUEST_INTERVAL_MS + 50);
  assert.equal(pub.keyframeRequests, 1);
});

Deno.test("Feed without a source", async (t) => {
  const feed = new Feed();
  try {
    await t.step("starts empty", () => {
      assert.equal(feed.live, false);
      assert.equal(feed.source, undefined);
      assert.equal(feed.codecs, undefined);
      assert.equal(feed.subscriberCount, 0);
    });

    await t.step("a keyframe request is dropped, and no timer is left", () => {
      feed.requestKeyframe();
      feed.requestKeyframe();
      // Nothing to observe but the sanitizers: a pending timer would fail this test.
    });

    await t.step("a player's request goes nowhere either, and no later source gets it", () => {
      const sub = new FakeSubscription();
      feed.subscribe(sub.asSubscription);
      sub.keyframeRequests.emit(undefined);
      const pub = new FakePublication("late");
      feed.setSource(pub.asPublication);
      // Only the one setSource itself asks for.
      assert.equal(pub.keyframeRequests, 1);
    });
  } finally {
    feed.close();
  }
});

Deno.test("Feed sources", async (t) => {
  const feed = new Feed();
  const a = new FakePublication("a");
  const b = new FakePublication("b");
  const sub = new FakeSubscription();
  try {
    await t.step("setSource attaches a sink and makes the feed live", () => {
      feed.subscribe(sub.asSubscription);
      feed.setSource(a.asPublication);
      assert.equal(feed.live, true);
      assert.equal(feed.source, a.asPublication);
      assert.deepEqual(feed.codecs, { audio: OPUS });
      assert.equal(a.sinks.length, 1);
      assert.equal(typeof a.sink, "function");
      assert.equal(sub.sourceChanges, 1);
    });

    await t.step("the sink forwards packets to every subscriber", () => {
      const other = new FakeSubscription();
      feed.subscribe(other.asSubscription);
      const rtp = { marker: true };
      a.sink!("audio", rtp as never, OPUS, false);
      // the arrival time is read once and handed to every subscriber
      const now = sub.sent[0][5];
      assert.equal(typeof now, "number");
      assert.deepEqual(sub.sent, [["audio", rtp, OPUS, false, "", now]]);
      assert.deepEqual(other.sent, [["audio", rtp, OPUS, false, "", now]]);
      feed.unsubscribe(other.asSubscription);
      a.sink!("audio", rtp as never, OPUS, false);
      assert.equal(sub.sent.length, 2);
      assert.equal(other.sent.length, 1);
    });

    await t.step("setSource detaches the previous source with setSink(undefined)", () => {
      feed.setSource(b.asPublication);
      assert.equal(a.sinks.length, 2);
      assert.equal(a.sink, undefined);
      assert.equal(typeof b.sink, "function");
      assert.equal(feed.source, b.asPublication);
      assert.equal(sub.sourceChanges, 2);
    });

    await t.step("clearSource of a publication that is not the current one is ignored", () => {
      feed.clearSource(a.asPublication);
      assert.equal(feed.live, true);
      assert.equal(feed.source, b.asPublication);
      assert.equal(b.sinks.length, 1);
      assert.equal(typeof b.sink, "function");
      assert.equal(a.sinks.length, 2);
    });

    await t.step("clearSource of the current one detaches it; players stay", () => {
      feed.clearSource(b.asPublication);
      assert.equal(feed.live, false);
      assert.equal(feed.source, undefined);
      assert.equal(feed.codecs, undefined);
      assert.equal(b.sink, undefined);
      assert.equal(feed.subscriberCount, 1);
      assert.equal(sub.detaches, 1, "players are told the source went away");
    });

    await t.step("a cleared source is not asked for keyframes any more", () => {
      const before = b.keyframeRequests;
      sub.keyframeRequests.emit(undefined);
      assert.equal(b.keyframeRequests, before);
    });
  } finally {
    feed.close();
  }
});

Deno.test("Feed subscribers", async (t) => {
  const feed = new Feed();
  const pub = new FakePublication("a");
  const one = new FakeSubscription();
  const two = new FakeSubscription();
  try {
    await t.step("subscribe and unsubscribe count players", () => {
      feed.subscribe(one.asSubscription);
      assert.equal(feed.subscriberCount, 1);
      feed.subscribe(two.asSubscription);
      assert.equal(feed.subscriberCount, 2);
      feed.subscribe(two.asSubscription); // again: still one entry
      assert.equal(feed.subscriberCount, 2);
      feed.unsubscribe(one.asSubscription);
      assert.equal(feed.subscriberCount, 1);
      feed.unsubscribe(one.asSubscription); // again: no effect
      assert.equal(feed.subscriberCount, 1);
    });

    await t.step("only current subscribers hear of a source change", () => {
      feed.setSource(pub.asPublication);
      assert.equal(one.sourceChanges, 0);
      assert.equal(two.sourceChanges, 1);
    });

    await t.step(
      "an unsubscribed player's keyframe requests no longer reach the feed",
      async () => {
        await sleep(KEYFRAME_REQUEST_INTERVAL_MS + 50);
        one.keyframeRequests.emit(undefined);
        assert.equal(pub.keyframeRequests, 1);
        two.keyframeRequests.emit(undefined);
        assert.equal(pub.keyframeRequests, 2);
      },
    );

    await t.step("close() detaches the source and every player", () => {
      feed.close();
      assert.equal(feed.subscriberCount, 0);
      assert.equal(feed.live, false);
      assert.equal(pub.sink, undefined);
    });
  } finally {
    feed.close();
  }
});

Deno.test("Feed activity: active with a source, inactive when its media stalls", async (t) => {
  const feed = new Feed();
  const a = new FakePublication("a");
  const b = new FakePublication("b");
  const events: string[] = [];
  feed.events.on((e) => events.push(e.type));
  const rtp = { marker: false } as never;
  try {
    await t.step("no source: neither live nor active, nothing to stall", () => {
      assert.equal(feed.active, false);
      assert.equal(feed.checkStall(performance.now() + 60_000), false);
      assert.deepEqual(events, []);
    });

    await t.step("setSource: active at once", () => {
      feed.setSource(a.asPublication);
      assert.equal(feed.active, true);
      assert.deepEqual(events, ["active"]);
    });

    await t.step("packets within the bound keep it active", () => {
      const now = performance.now();
      a.sink!("audio", rtp, OPUS, false);
      assert.equal(feed.checkStall(now + MEDIA_STALL_MS - 100), false);
      assert.equal(feed.active, true);
    });

    await t.step("nothing for longer than the bound: inactive once, source kept", () => {
      const later = performance.now() + MEDIA_STALL_MS + 1;
      assert.equal(feed.checkStall(later), true);
      assert.equal(feed.checkStall(later + 1000), false, "reported once");
      assert.equal(feed.active, false);
      assert.equal(feed.live, true);
      assert.equal(feed.source, a.asPublication);
      assert.deepEqual(events, ["active", "inactive"]);
    });

    await t.step("the next packet: active again", () => {
      a.sink!("audio", rtp, OPUS, false);
      assert.equal(feed.active, true);
      assert.deepEqual(events, ["active", "inactive", "active"]);
    });

    await t.step("a new source (takeover) is announced even when active", () => {
      feed.setSource(b.asPublication);
      assert.deepEqual(events, ["active", "inactive", "active", "active"]);
    });

    await t.step("clearing a stalled source says nothing more", () => {
      assert.equal(feed.checkStall(performance.now() + MEDIA_STALL_MS + 1), true);
      feed.clearSource(b.asPublication);
      assert.deepEqual(events, ["active", "inactive", "active", "active", "inactive"]);
      assert.equal(feed.active, false);
    });

    await t.step("clearing an active source: inactive", () => {
      feed.setSource(a.asPublication);
      feed.clearSource(a.asPublication);
      assert.deepEqual(events.slice(-2), ["active", "inactive"]);
    });
  } finally {
    feed.close();
  }
  await sleep(KEYFRAME_REQUEST_INTERVAL_MS + 50); // the deferred keyframe requests have run
});
