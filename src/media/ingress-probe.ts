/**
 * Tells whether a publisher's socket already holds more datagrams (`ioctl(FIONREAD)` on the
 * descriptor of its nominated ICE pair). The egress batch uses it to send a burst's packets
 * together when the burst is still arriving, and at once when it is not: no timer, no delay
 * added to a packet that arrives alone.
 *
 * @module
 */
import type { Libc } from "./native/libs.ts";
import { pairSocket } from "./ice-socket.ts";
import type { IceConnection, IcePair } from "./werift/internals.ts";

const FIONREAD = 0x541bn;

/** The probe of one publisher connection. */
export class IngressProbe {
  readonly #libc: Libc;
  readonly #known: Map<string, number>;
  readonly #connection: IceConnection;
  readonly #count = new Uint8Array(4);
  #pair?: IcePair;
  #fd = -1;

  /**
   * @param libc the opened libc
   * @param known descriptors found so far (the egress scheduler's)
   * @param connection werift's ICE connection of the publisher
   */
  constructor(libc: Libc, known: Map<string, number>, connection: IceConnection) {
    this.#libc = libc;
    this.#known = known;
    this.#connection = connection;
  }

  /** True when the publisher's socket has a datagram waiting to be read. */
  waiting(): boolean {
    const pair = this.#connection.nominated;
    if (pair !== this.#pair) {
      this.#pair = pair;
      this.#fd = pairSocket(this.#libc, this.#known, pair)?.fd ?? -1;
    }
    if (this.#fd < 0) return false;
    const count = this.#count;
    if (this.#libc.ioctl(this.#fd, FIONREAD, count) !== 0) return false;
    return (count[0] | count[1] | count[2] | count[3]) !== 0;
  }
}
