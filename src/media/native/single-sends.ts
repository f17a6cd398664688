/**
 * Datagrams that leave alone — an Opus packet, a one-packet frame: a connection whose flush has
 * a single packet — gathered across players and sent with one `sendmmsg` per socket, each
 * message to its own player. One `sendmsg` per such datagram cost this VM ≈ 6 µs of its sending
 * core (bench:kernel, 160-byte Opus packets), most of it the system call itself; audio is 50
 * packets a second per player, a sixth of the fan-out's packets and about a third of its kernel
 * time. Larger runs stay with each connection's segmented `sendmsg` (datagram-batch.ts): the
 * data of a whole fan-out in one batch would leave the caches before the kernel copies it.
 *
 * A slot holds the three parts of one SRTP packet (header, ciphertext, tag) as in
 * datagram-batch.ts; the caller protects into a slot it {@link SingleSends.reserve}d, then
 * {@link SingleSends.commit}s it with its destination. The batch is sent when it is full, when a
 * datagram for another socket comes, and when the egress scheduler's flush ends ({@link
 * SingleSends.submit}). A message the kernel refuses (a full socket buffer) is dropped and the
 * ones after it still go.
 *
 * @module
 */
import { addressOf, MultiSend, setPointer } from "./send-mmsg.ts";

/** Messages per call (and slots). */
export const SINGLE_SLOTS = 64;
/** Largest payload a slot holds; a longer lone packet takes the connection's own send. */
export const SINGLE_PAYLOAD = 1500;

const HEADER_ROOM = 256;
const TAG_ROOM = 32;

/** What a {@link SingleSends.submit} did. */
export interface SinglesResult {
  /** Datagrams committed. */
  count: number;
  /** Datagrams the kernel took. */
  sent: number;
  /** System calls made. */
  calls: number;
}

/** The process's lone datagrams waiting for one `sendmmsg` (the event loop is single-threaded). */
export class SingleSends {
  /** Per slot: room for the RTP header. */
  readonly headers: Uint8Array[] = [];
  /** Per slot: room for the ciphertext ({@link SINGLE_PAYLOAD} bytes). */
  readonly ciphertexts: Uint8Array[] = [];
  /** Per slot: room for the authentication tag. */
  readonly tags: Uint8Array[] = [];
  readonly #iov: DataView;
  readonly #iovAddress: number;
  readonly #send = new MultiSend(SINGLE_SLOTS);
  readonly #result: SinglesResult = { count: 0, sent: 0, calls: 0 };
  /** The socket of the datagrams committed so far (one `sendmmsg` sends from one socket). */
  #fd = -1;
  #count = 0;
  /** Called with what a submit did (the owner's counters). */
  readonly #done: (result: SinglesResult) => void;

  /**
   * @param done told what each submit did (datagrams, taken, calls); throws when libc's
   * `sendmmsg` cannot be opened (the caller then keeps one `sendmsg` each)
   */
  constructor(done: (result: SinglesResult) => void) {
    this.#done = done;
    const headers = new ArrayBuffer(HEADER_ROOM * SINGLE_SLOTS);
    const ciphertexts = new ArrayBuffer(SINGLE_PAYLOAD * SINGLE_SLOTS);
    const tags = new ArrayBuffer(TAG_ROOM * SINGLE_SLOTS);
    const iov = new ArrayBuffer(48 * SINGLE_SLOTS);
    this.#iov = new DataView(iov);
    this.#iovAddress = addressOf(iov);
    for (let k = 0; k < SINGLE_SLOTS; k++) {
      this.headers.push(new Uint8Array(headers, HEADER_ROOM * k, HEADER_ROOM));
      this.ciphertexts.push(new Uint8Array(ciphertexts, SINGLE_PAYLOAD * k, SINGLE_PAYLOAD));
      this.tags.push(new Uint8Array(tags, TAG_ROOM * k, TAG_ROOM));
      setPointer(this.#iov, 48 * k, addressOf(headers) + HEADER_ROOM * k);
      setPointer(this.#iov, 48 * k + 16, addressOf(ciphertexts) + SINGLE_PAYLOAD * k);
      setPointer(this.#iov, 48 * k + 32, addressOf(tags) + TAG_ROOM * k);
    }
  }

  /** Datagrams committed and not yet sent. */
  get length(): number {
    return this.#count;
  }

  /**
   * The slot for the next datagram, to be sent from descriptor `fd`: the batch is sent first
   * when it is full or holds another socket's datagrams.
   */
  reserve(fd: number): number {
    if (this.#count === SINGLE_SLOTS || (this.#count > 0 && fd !== this.#fd)) this.submit();
    this.#fd = fd;
    return this.#count;
  }

  /**
   * Adds the datagram of slot `k` (from {@link reserve}; its parts written) for `name` (a
   * 16-byte `sockaddr_in`) with its three lengths.
   */
  commit(k: number, name: Uint8Array, header: number, payload: number, tag: number): void {
    const iov = this.#iov;
    iov.setUint32(48 * k + 8, header, true);
    iov.setUint32(48 * k + 24, payload, true);
    iov.setUint32(48 * k + 40, tag, true);
    this.#send.add(name, this.#iovAddress + 48 * k, 3, 0);
    this.#count = k + 1;
  }

  /** Sends the committed datagrams (one `sendmmsg` while the kernel takes them all). */
  submit(): void {
    const count = this.#count;
    if (count === 0) return;
    this.#count = 0;
    const calls = this.#send.stats.calls;
    const sent = this.#send.flush(this.#fd);
    const r = this.#result;
    r.count = count;
    r.sent = sent;
    r.calls = this.#send.stats.calls - calls;
    this.#done(r);
  }
}
