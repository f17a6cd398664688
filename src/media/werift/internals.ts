/**
 * The one typed view of werift 0.25's private fields that the media plane reads or writes. Every
 * cast of a werift object to its internals goes through the functions here, and every member
 * named here is verified at start by check.ts, so a werift upgrade that renames one stops the
 * start with its name instead of silently bringing back werift's behaviour.
 *
 * @module
 */
import type {
  RtcpPacket,
  RTCRtpCodecParameters,
  RTCRtpReceiver,
  RTCRtpSender,
  RtpPacket,
} from "werift";

/** werift's nominated candidate pair, as far as the native paths read it. */
export interface IcePair {
  /** The remote address of the pair. */
  remoteAddr: [string, number];
  /** The local protocol (a UDP socket, or TURN/TCP without one). */
  protocol: {
    transport?: { closed?: boolean; socket?: { address(): { address: string; port: number } } };
  };
}

/** werift's ICE connection (`Connection`), as far as the media plane reads it. */
export interface IceConnection {
  /** The nominated pair, once ICE is done. */
  nominated?: IcePair;
  /** ICE consent holds. */
  canSendApplicationData(): boolean;
  /** Sends a datagram on the nominated pair. */
  send(data: Uint8Array): Promise<void>;
}

/** The SRTP context werift keeps per DTLS transport (its session keys). */
export interface SrtpContext {
  /** Session encryption key. */
  srtpSessionKey: Uint8Array;
  /** Session salt. */
  srtpSessionSalt: Uint8Array;
  /** Session authentication key. */
  srtpSessionAuthTag: Uint8Array;
}

/** werift's `RTCDtlsTransport`, as far as the native send path reads and updates it. */
export interface DtlsTransportInternals {
  /** The SRTP session (replaced on each handshake). */
  srtp?: { localContext?: SrtpContext };
  /** The SRTCP session. */
  srtcp?: { encrypt(rtcp: Uint8Array): Uint8Array };
  /** Transport counters (werift's stats). */
  bytesSent: number;
  /** Transport counters (werift's stats). */
  packetsSent: number;
  /** The negotiated SRTP protection profile. */
  dtls?: { srtp?: { srtpProfile?: number } };
  /** The ICE transport under it. */
  iceTransport: { connection: IceConnection };
  /** werift's own RTP send (header + payload, protected by werift). */
  sendRtp(payload: Uint8Array, header: RtpPacket["header"]): Promise<number>;
}

/** werift's `RTCRtpSender` fields and methods that the media plane reads, writes or overrides. */
export interface SenderInternals {
  /** Media SSRC. */
  ssrc: number;
  /** RTX SSRC. */
  rtxSsrc: number;
  /** RTX payload type of the current codec, if negotiated. */
  rtxPayloadType?: number;
  /** Next RTX sequence number (werift's sender path). */
  rtxSequenceNumber: number;
  /** The m-line's mid. */
  mid?: string;
  /** The negotiated RTP header extensions. */
  headerExtensions: { uri: string; id: number }[];
  /** Sender counters (its stats and sender reports). */
  packetCount: number;
  /** Sender counters (its stats and sender reports). */
  octetCount: number;
  /** The last RTP timestamp sent. */
  rtpTimestamp: number;
  /** Retransmission counters. */
  retransmittedPacketsSent: number;
  /** Retransmission counters. */
  retransmittedBytesSent: number;
  /** NACKs received. */
  nackCount: number;
  /** Set once the sender stopped. */
  stopped: boolean;
  /** The CNAME of its SDES. */
  cname?: string;
  /** The last SR sent (compact NTP), for the round-trip time of receiver reports. */
  lastSRtimestamp?: number;
  /** When the last SR was sent, s. */
  lastSentSRTimestamp?: number;
  /** The codec it sends (set once at negotiation; changed when the source codec does). */
  codec?: RTCRtpCodecParameters;
  /** The primary codec it sends. */
  sendPrimaryCodec?: RTCRtpCodecParameters;
  /** The player's REMB, bit/s. */
  receiverEstimatedMaxBitrate: bigint;
  /** werift's 128-packet retransmission cache. */
  rtpCache: RtpPacket[];
  /** werift's RTCP input for this sender (NACKs, PLI, …). */
  handleRtcpPacket(packet: RtcpPacket): void;
  /** The DTLS transport it sends on. */
  dtlsTransport: DtlsTransportInternals;
}

/** The internals of `sender` (see {@link SenderInternals}). */
export function senderInternals(sender: RTCRtpSender): SenderInternals {
  return sender as unknown as SenderInternals;
}

/** The ICE connection under a receiver's DTLS transport. */
export function receiverConnection(receiver: RTCRtpReceiver): IceConnection {
  const dtls = receiver.dtlsTransport as unknown as DtlsTransportInternals;
  return dtls.iceTransport.connection;
}

/** The member names of {@link SenderInternals} (verified on a fresh sender at start). */
export const SENDER_MEMBERS: readonly (keyof SenderInternals)[] = [
  "ssrc",
  "rtxSsrc",
  "rtxSequenceNumber",
  "headerExtensions",
  "packetCount",
  "octetCount",
  "rtpTimestamp",
  "retransmittedPacketsSent",
  "retransmittedBytesSent",
  "nackCount",
  "stopped",
  "cname",
  "receiverEstimatedMaxBitrate",
  "rtpCache",
  "codec",
  "sendPrimaryCodec",
  "rtxPayloadType",
  "mid",
  "lastSRtimestamp",
  "lastSentSRTimestamp",
  "handleRtcpPacket",
  "dtlsTransport",
];

/** werift's ICE connection as the liveness follower and the datagram guard see it. */
export interface ListenedConnection {
  /** Every datagram received. */
  onData: { subscribe(f: () => void): unknown };
  /** The local protocols (one per socket); STUN requests and datagrams come through them. */
  protocols: {
    onRequestReceived?: { subscribe(f: () => void): unknown };
    datagramReceived(data: Uint8Array, addr: [string, number]): void;
  }[];
  /** The candidate pairs and their states. */
  checkList: { state: number; remoteAddr: [string, number] }[];
  /** The nominated pair, once ICE is done. */
  nominated?: { remoteAddr: [string, number] };
}

/** The ICE connection of one of werift's `RTCIceTransport`s. */
export function iceConnectionOf(transport: { connection: unknown }): ListenedConnection {
  return transport.connection as ListenedConnection;
}
