/**
 * The connection of a pull (cluster edges): this server plays a publication from another server
 * with WHEP — it makes a receive-only offer in every codec it forwards, the other server
 * answers — and the {@link Publication} built on the answer feeds this server's players
 * directly from it: the same keyframe cache, NACK history, PLI handling and fan-out as for a
 * publisher, with no second WebRTC leg.
 *
 * A pull has sockets of its own (werift's, on ephemeral ports), not the shared media port:
 * the shared port routes DTLS and SRTP by 5-tuple, and two pulls from one origin would share
 * one (this node's port, the origin's port). It is a full ICE agent (the other side answers as
 * ICE-lite or full; one of the two must be full) without TCP candidates (it initiates).
 *
 * @module
 */
import { type Kind, Publication } from "./publication.ts";
import { type MediaOptions, Peer } from "./peer.ts";
import { serverOfferCodecs } from "./egress-codecs.ts";
import type { ParsedSdp } from "../sdp/offer.ts";

/** The options of a pull's connection: those of the server, on sockets of its own. */
function pullOptions(options: MediaOptions): MediaOptions {
  return {
    ...options,
    udpMux: undefined,
    udpOff: false,
    reflexive: undefined,
    tcp: undefined,
    iceLite: false,
    portRange: undefined,
    announcedIps: [],
  };
}

/** A receive-only connection that offers (WHEP client side). */
class PullPeer extends Peer {
  /** `kinds`: the media sections to offer (receive-only), in that order. */
  constructor(options: MediaOptions, kinds: readonly Kind[]) {
    super(pullOptions(options), serverOfferCodecs());
    for (const kind of kinds) this.pc.addTransceiver(kind, { direction: "recvonly" });
  }
}

/** A pull under way: its offer to POST, then the publication built on the answer. */
export class Pull {
  readonly #peer: PullPeer;
  readonly #options: MediaOptions;

  /** A pull of audio and video (or of `kinds` only, e.g. one more video layer). */
  constructor(options: MediaOptions, kinds: readonly Kind[] = ["audio", "video"]) {
    this.#options = options;
    this.#peer = new PullPeer(options, kinds);
  }

  /** The offer to POST to the other server's WHEP endpoint, complete with candidates. */
  offer(): Promise<string> {
    return this.#peer.offer();
  }

  /**
   * Applies the other server's answer (`sdp`, parsed as `parsed`) and returns the publication
   * its media feeds, with the video layers `rids` (`[""]` without simulcast): the first one
   * arrives here, the others through pulls of their own ({@link acceptLayer}).
   */
  async accept(sdp: string, parsed: ParsedSdp, rids: string[] = [""]): Promise<Publication> {
    const publication = new Publication(this.#options, parsed, { peer: this.#peer, rids });
    await this.#peer.acceptAnswer(sdp);
    return publication;
  }

  /** Applies the answer of a pull of one more video layer (`rid`) of `publication`. */
  async acceptLayer(sdp: string, publication: Publication, rid: string): Promise<void> {
    publication.addLayer(this.#peer, rid);
    await this.#peer.acceptAnswer(sdp);
  }

  /** Closes the connection (a pull that never got its answer). */
  close(): Promise<void> {
    return this.#peer.close();
  }
}
