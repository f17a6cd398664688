/**
 * fast-check arbitraries of the hostile suite: values that break parsers, and mutations of real
 * SDP (line deletions, duplications, swaps, insertions, token and attribute rewrites, huge
 * lines, CR/LF mixes, truncation, bit flips, non-UTF-8 bytes).
 *
 * @module
 */
import fc from "npm:fast-check@4.10.2";

/** Values known to upset parsers: numbers at and past every boundary, separators, prototypes. */
export const NASTY = [
  "",
  " ",
  "0",
  "-1",
  "-0",
  "1.5",
  "127",
  "128",
  "255",
  "256",
  "65535",
  "65536",
  "2147483647",
  "2147483648",
  "4294967295",
  "4294967296",
  "9007199254740993",
  "18446744073709551616",
  "99999999999999999999999999999999999999",
  "1e309",
  "NaN",
  "Infinity",
  "0x10",
  "null",
  "undefined",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "*",
  ":",
  "::",
  "/",
  "//",
  ";",
  "=",
  "%00",
  "%s%n",
  "\u0000",
  "\t",
  "\u00ff",
  "\u2028",
  "\ud800",
  "🎸",
  "e\u0301",
  "A".repeat(300),
];

/** A full-Unicode string (lone surrogates included). */
export const unicode = (maxLength = 20): fc.Arbitrary<string> =>
  fc.string({ unit: "binary", maxLength });

/** A hostile value for one token or attribute of a line. */
export const nastyValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.string({ maxLength: 20 }) },
  { weight: 1, arbitrary: unicode() },
  { weight: 2, arbitrary: fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String) },
  { weight: 1, arbitrary: fc.double().map(String) },
  { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map((n) => "9".repeat(n)) },
);

/** SDP attribute names, known to this server or to werift. */
export const ATTRIBUTES = [
  "rtpmap",
  "fmtp",
  "rtcp-fb",
  "extmap",
  "extmap-allow-mixed",
  "ssrc",
  "ssrc-group",
  "msid",
  "msid-semantic",
  "mid",
  "rid",
  "simulcast",
  "candidate",
  "end-of-candidates",
  "ice-ufrag",
  "ice-pwd",
  "ice-options",
  "ice-lite",
  "fingerprint",
  "setup",
  "group",
  "rtcp",
  "rtcp-mux",
  "rtcp-mux-only",
  "rtcp-rsize",
  "bundle-only",
  "sendrecv",
  "sendonly",
  "recvonly",
  "inactive",
  "sctp-port",
  "sctpmap",
  "max-message-size",
  "ptime",
  "maxptime",
  "framerate",
  "label",
  "content",
  "x-google-flag",
];

const candidateLine: fc.Arbitrary<string> = fc.tuple(
  fc.oneof(fc.constantFrom("1", "abc", ""), fc.string({ maxLength: 40 })),
  fc.oneof(fc.constantFrom("1", "2", "0", "256"), nastyValue),
  fc.constantFrom("udp", "UDP", "tcp", "sctp", "x"),
  fc.oneof(fc.constantFrom("2122260223", "0", "4294967296"), nastyValue),
  fc.constantFrom("127.0.0.1", "192.0.2.1", "::1", "0.0.0.0", "x.local", "999.1.1.1", ""),
  fc.oneof(fc.constantFrom("0", "9", "65535", "65536", "-1"), nastyValue),
  fc.constantFrom("host", "srflx", "prflx", "relay", "bogus", ""),
  fc.constantFrom("", " raddr 0.0.0.0 rport 0", " generation 0", " tcptype active", " raddr"),
).map(([f, c, t, p, a, port, typ, ext]) =>
  `a=candidate:${f} ${c} ${t} ${p} ${a} ${port} typ ${typ}${ext}`
);

/** A line an attacker could slip into an SDP. */
export const sdpLine: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.tuple(fc.constantFrom(...ATTRIBUTES), fc.option(nastyValue)).map(([n, v]) =>
      v === null ? `a=${n}` : `a=${n}:${v}`
    ),
  },
  { weight: 2, arbitrary: candidateLine },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.constantFrom("audio", "video", "application", "text", "x"),
      fc.constantFrom("9", "0", "65536", "1/2"),
      fc.constantFrom("UDP/TLS/RTP/SAVPF", "RTP/AVP", "UDP/DTLS/SCTP", "TCP/DTLS/SCTP", "x"),
      fc.array(fc.oneof(fc.integer({ min: 0, max: 140 }).map(String), nastyValue), {
        maxLength: 4,
      }),
    ).map(([k, p, proto, fmts]) => `m=${k} ${p} ${proto} ${fmts.join(" ")}`),
  },
  { weight: 1, arbitrary: fc.constantFrom("c=IN IP4 0.0.0.0", "c=IN IP6 ::", "c=", "b=AS:0") },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.string({ minLength: 1, maxLength: 1 }), fc.string({ maxLength: 30 }))
      .map(([t, v]) => `${t}=${v}`),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
);

/** One line-level mutation (indexes are taken modulo the line count). */
export type LineMutation =
  | { op: "delete"; at: number }
  | { op: "dup"; at: number }
  | { op: "swap"; at: number; with: number }
  | { op: "insert"; at: number; line: string }
  | { op: "token"; at: number; token: number; value: string }
  | { op: "value"; at: number; value: string }
  | { op: "huge"; at: number; size: number };

/** One byte-level mutation (positions are fractions of the length, 0 to 1). */
export type ByteMutation =
  | { op: "truncate"; at: number }
  | { op: "flip"; at: number; bit: number }
  | { op: "bytes"; at: number; bytes: number[] };

/** A mutation plan for one SDP. */
export interface SdpMutation {
  /** Which base SDP (index into the caller's list). */
  base: number;
  /** Line-level mutations, in order. */
  lines: LineMutation[];
  /** Line separators, cycled; `["\r\n"]` is the wire form. */
  eol: string[];
  /** Byte-level mutations of the encoded body, in order. */
  bytes: ByteMutation[];
}

const index = fc.nat({ max: 10_000 });
const fraction = fc.double({ min: 0, max: 1, noNaN: true });

const lineMutation: fc.Arbitrary<LineMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("delete" as const), at: index }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("dup" as const), at: index }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("swap" as const), at: index, with: index }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("insert" as const), at: index, line: sdpLine }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("token" as const),
      at: index,
      token: fc.nat({ max: 12 }),
      value: nastyValue,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("value" as const), at: index, value: nastyValue }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("huge" as const),
      at: index,
      size: fc.oneof(fc.integer({ min: 1000, max: 20_000 }), fc.constant(70_000)),
    }),
  },
);

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ op: fc.constant("truncate" as const), at: fraction }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("flip" as const),
      at: fraction,
      bit: fc.integer({ min: 0, max: 7 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("bytes" as const),
      at: fraction,
      // mostly invalid UTF-8: continuation bytes, overlong starts, 0xFE/0xFF, NUL, lone CR
      bytes: fc.array(
        fc.oneof(
          fc.integer({ min: 0x80, max: 0xff }),
          fc.constantFrom(0x00, 0x0d, 0x0a, 0xc0, 0xc1, 0xf5, 0xfe, 0xff),
        ),
        { minLength: 1, maxLength: 6 },
      ),
    }),
  },
);

const EOLS = ["\r\n", "\n", "\r", "\n\r", "\r\r\n", " \r\n", "\r\n\r\n", "\u2028"];

/** A mutation plan over `bases` base SDPs: at least one mutation. */
export function sdpMutation(bases: number): fc.Arbitrary<SdpMutation> {
  return fc.record({
    base: fc.nat({ max: bases - 1 }),
    lines: fc.array(lineMutation, { maxLength: 4 }),
    eol: fc.oneof(
      { weight: 6, arbitrary: fc.constant<string[]>(["\r\n"]) },
      { weight: 1, arbitrary: fc.constant<string[]>(["\n"]) },
      { weight: 2, arbitrary: fc.array(fc.constantFrom(...EOLS), { minLength: 1, maxLength: 5 }) },
    ),
    bytes: fc.array(byteMutation, { maxLength: 3 }),
  }).filter((m) => m.lines.length + m.bytes.length > 0 || m.eol.length > 1 || m.eol[0] !== "\r\n");
}

function replaceToken(line: string, token: number, value: string): string {
  const parts = line.split(/([ :/=;])/); // keeps the separators at odd indexes
  const words = parts.flatMap((_part, i) => (i % 2 === 0 ? [i] : []));
  if (words.length === 0) return value;
  parts[words[token % words.length]] = value;
  return parts.join("");
}

/** Applies a mutation plan to `sdp`; returns the body bytes. */
export function mutate(sdp: string, m: SdpMutation): Uint8Array<ArrayBuffer> {
  const lines = sdp.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  const pick = (at: number) => (lines.length === 0 ? 0 : at % lines.length);
  for (const op of m.lines) {
    const i = pick(op.at);
    switch (op.op) {
      case "delete":
        lines.splice(i, 1);
        break;
      case "dup":
        if (lines.length) lines.splice(i, 0, lines[i]);
        break;
      case "swap": {
        const j = pick(op.with);
        [lines[i], lines[j]] = [lines[j], lines[i]];
        break;
      }
      case "insert":
        lines.splice(i, 0, op.line);
        break;
      case "token":
        if (lines.length) lines[i] = replaceToken(lines[i], op.token, op.value);
        break;
      case "value":
        if (lines.length) {
          const colon = lines[i].indexOf(":");
          const eq = lines[i].indexOf("=");
          const cut = colon > 0 ? colon + 1 : eq + 1;
          lines[i] = lines[i].slice(0, cut) + op.value;
        }
        break;
      case "huge":
        if (lines.length) lines[i] += "x".repeat(op.size);
        break;
    }
  }
  const text = lines.map((l, i) => l + m.eol[i % m.eol.length]).join("");
  let bytes: Uint8Array<ArrayBuffer> = new TextEncoder().encode(text);
  for (const op of m.bytes) {
    const at = Math.min(bytes.length, Math.floor(op.at * bytes.length));
    if (op.op === "truncate") bytes = bytes.slice(0, at);
    else if (op.op === "flip") {
      if (bytes.length) bytes[Math.min(at, bytes.length - 1)] ^= 1 << op.bit;
    } else {
      const out = new Uint8Array(bytes.length + op.bytes.length);
      out.set(bytes.subarray(0, at));
      out.set(op.bytes, at);
      out.set(bytes.subarray(at), at + op.bytes.length);
      bytes = out;
    }
  }
  return bytes;
}

/** A short printable description of a body, for failure messages. */
export function preview(bytes: Uint8Array, max = 400): string {
  const text = new TextDecoder().decode(bytes.subarray(0, max));
  return JSON.stringify(text) + (bytes.length > max ? ` … (${bytes.length} bytes)` : "");
}

// ---------------------------------------------------------------------------------------------
// sdpfrags (RFC 8840).

const iceChars = (min: number, max: number) =>
  fc.string({
    unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"),
    minLength: min,
    maxLength: max,
  });

/** Addresses that never leave the machine or the documentation ranges (no STUN to the world). */
export const address: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "127.0.0.1",
    "192.0.2.1",
    "198.51.100.7",
    "203.0.113.9",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.251",
    "::1",
    "::",
    "2001:db8::1",
    "fe80::1",
    "::ffff:127.0.0.1",
    "1:2:3:4:5:6:7:8:9",
    "256.0.0.1",
    "abc.local",
    "localhost",
    "",
  ),
  fc.nat({ max: 255 }).map((n) => `127.0.0.${n}`),
  fc.nat({ max: 255 }).map((n) => `192.0.2.${n}`),
);

const number = (typical: fc.Arbitrary<number>) =>
  fc.oneof(
    { weight: 24, arbitrary: typical.map(String) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "-1",
        "0",
        "4294967295",
        "4294967296",
        "9007199254740993",
        "1e3",
        "0x1",
        "99999999999999999999999",
      ),
    },
    { weight: 1, arbitrary: nastyValue },
  );

/** `a=candidate:` lines that mostly follow RFC 8839, with random fields. */
/** Candidates within the RFC 8839 grammar, with random values in every field. */
const wellFormedCandidate: fc.Arbitrary<string> = fc.record({
  foundation: iceChars(1, 32),
  component: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 256 }),
  }),
  transport: fc.constantFrom("udp", "udp", "udp", "UDP", "tcp"),
  priority: fc.oneof(fc.nat(), fc.constantFrom(0, 2 ** 31, 2 ** 32 - 1)),
  address: fc.oneof(
    { weight: 3, arbitrary: fc.nat({ max: 255 }).map((n) => `127.0.0.${n}`) },
    { weight: 1, arbitrary: fc.constantFrom("192.0.2.1", "::1", "2001:db8::7", "fe80::1") },
  ),
  port: fc.integer({ min: 0, max: 65535 }),
  type: fc.constantFrom("host", "host", "srflx", "prflx", "relay"),
  generation: fc.option(fc.nat({ max: 9 })),
}).map((c) =>
  `a=candidate:${c.foundation} ${c.component} ${c.transport} ${c.priority} ${c.address} ` +
  `${c.port} typ ${c.type}` + (c.type === "host" ? "" : ` raddr 0.0.0.0 rport 0`) +
  (c.generation === null ? "" : ` generation ${c.generation}`)
);

/** Candidates with hostile fields: boundaries, odd addresses, stray extensions. */
const wildCandidate: fc.Arbitrary<string> = fc.record({
  foundation: fc.oneof({ weight: 12, arbitrary: iceChars(1, 32) }, {
    weight: 1,
    arbitrary: nastyValue,
  }),
  component: number(fc.constantFrom(1, 2, 3, 256)),
  transport: fc.constantFrom("udp", "udp", "udp", "UDP", "tcp", "TCP", "tls", "x"),
  priority: number(fc.nat()),
  address,
  port: number(fc.integer({ min: 0, max: 65535 })),
  type: fc.constantFrom("host", "host", "srflx", "prflx", "relay", "HOST", "x", ""),
  extensions: fc.array(
    fc.oneof(
      address.map((a) => `raddr ${a}`),
      number(fc.integer({ min: 0, max: 65535 })).map((p) => `rport ${p}`),
      number(fc.nat({ max: 9 })).map((g) => `generation ${g}`),
      fc.constantFrom("active", "passive", "so", "x").map((t) => `tcptype ${t}`),
      iceChars(0, 8).map((u) => `ufrag ${u}`),
      fc.tuple(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 })).map(([k, v]) =>
        `${k} ${v}`
      ),
      fc.constant("raddr"),
    ),
    { maxLength: 3 },
  ),
}).map((c) =>
  `a=candidate:${c.foundation} ${c.component} ${c.transport} ${c.priority} ${c.address} ` +
  `${c.port} typ ${c.type}${c.extensions.map((e) => ` ${e}`).join("")}`
);

/** `a=candidate:` lines: mostly well-formed with random fields, some hostile. */
export const candidate: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: wellFormedCandidate },
  { weight: 1, arbitrary: wildCandidate },
);

const credentials = (withCredentials: boolean) =>
  withCredentials
    ? fc.array(
      fc.oneof(
        iceChars(4, 32).map((u) => `a=ice-ufrag:${u}`),
        iceChars(22, 64).map((p) => `a=ice-pwd:${p}`),
        nastyValue.map((v) => `a=ice-ufrag:${v}`),
        nastyValue.map((v) => `a=ice-pwd:${v}`),
        fc.constantFrom(
          "a=ice-ufrag",
          "a=ice-pwd:",
          "a=ice-options:trickle ice2",
          "a=ice-options:",
        ),
      ),
      { maxLength: 3 },
    )
    : fc.constant<string[]>([]);

/** A media block: an m-line (the RFC 8840 dummy or a random one), a mid, candidates. */
const mediaBlock = (withCredentials: boolean) =>
  fc.record({
    mline: fc.oneof(
      { weight: 4, arbitrary: fc.constant("m=audio 9 UDP/TLS/RTP/SAVPF 0") },
      { weight: 1, arbitrary: fc.constant("m=audio 9 RTP/AVP 0") },
      { weight: 1, arbitrary: sdpLine.filter((l) => l.startsWith("m=")) },
    ),
    mid: fc.option(
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom("0", "1") }, {
        weight: 1,
        arbitrary: nastyValue,
      }),
    ),
    creds: credentials(withCredentials),
    candidates: fc.array(candidate, { maxLength: 3 }),
    end: fc.boolean(),
  }).map((b) => [
    b.mline,
    ...(b.mid === null ? [] : [`a=mid:${b.mid}`]),
    ...b.creds,
    ...b.candidates,
    ...(b.end ? ["a=end-of-candidates"] : []),
  ]);

/** A whole sdpfrag body; `withCredentials` false keeps ICE credentials (and restarts) out. */
export const sdpfrag = (withCredentials: boolean): fc.Arbitrary<string> =>
  fc.record({
    session: credentials(withCredentials),
    media: fc.array(mediaBlock(withCredentials), { minLength: 1, maxLength: 3 }),
    noise: fc.oneof(
      { weight: 3, arbitrary: fc.constant<string[]>([]) },
      {
        weight: 1,
        arbitrary: fc.array(
          withCredentials ? sdpLine : sdpLine.filter((l) => !/^a=ice-(ufrag|pwd)/.test(l)),
          { minLength: 1, maxLength: 2 },
        ),
      },
    ),
    noiseAt: fc.nat({ max: 50 }),
    eol: fc.constantFrom("\r\n", "\r\n", "\r\n", "\n"),
  }).map((f) => {
    const lines = [...f.session, ...f.media.flat()];
    lines.splice(f.noiseAt % (lines.length + 1), 0, ...f.noise);
    return lines.map((l) => l + f.eol).join("");
  });

// ---------------------------------------------------------------------------------------------
// Oversized offers (issue 15.2): well-formed SDP with more m-lines, candidates, payload types or
// simulcast layers than a WHIP/WHEP client sends. Each must be refused with a 4xx before the
// server builds anything for it.

/** The shape of an oversized offer: which part is multiplied, and how many times. */
export interface OversizedShape {
  /** What is repeated. */
  kind: "m-lines" | "audio" | "candidates" | "payload-types" | "rids" | "lines";
  /** How many. */
  count: number;
}

/** Oversized shapes, from just past each cap to far past it. */
export const oversizedShape: fc.Arbitrary<OversizedShape> = fc.oneof(
  fc.record({ kind: fc.constant("m-lines" as const), count: fc.integer({ min: 5, max: 200 }) }),
  fc.record({ kind: fc.constant("audio" as const), count: fc.integer({ min: 2, max: 4 }) }),
  fc.record({
    kind: fc.constant("candidates" as const),
    count: fc.integer({ min: 33, max: 400 }),
  }),
  fc.record({
    kind: fc.constant("payload-types" as const),
    count: fc.integer({ min: 65, max: 200 }),
  }),
  fc.record({ kind: fc.constant("rids" as const), count: fc.integer({ min: 5, max: 100 }) }),
  fc.record({ kind: fc.constant("lines" as const), count: fc.integer({ min: 1501, max: 3000 }) }),
);

/**
 * `base` (a two-section offer, audio then video, BUNDLEd) grown to `shape`: extra sendonly video
 * or audio m-lines with their own mids (bundled, as a real offer's would be), candidates, payload
 * types with rtpmaps, rids, or harmless session-level lines.
 */
export function oversizedOffer(base: string, shape: OversizedShape): string {
  const eol = base.includes("\r\n") ? "\r\n" : "\n";
  let sdp = base.trimEnd() + eol;
  const n = shape.count;
  switch (shape.kind) {
    case "m-lines":
    case "audio": {
      const kind = shape.kind === "audio" ? "audio" : "video";
      const first = shape.kind === "audio" ? 1 : 2;
      const mids: string[] = [];
      for (let i = first; i < n; i++) {
        const mid = `x${i}`;
        mids.push(mid);
        const pt = kind === "audio" ? "111 opus/48000/2" : "96 VP8/90000";
        sdp += [
          `m=${kind} 9 UDP/TLS/RTP/SAVPF ${pt.split(" ")[0]}`,
          "c=IN IP4 0.0.0.0",
          `a=mid:${mid}`,
          "a=sendonly",
          "a=rtcp-mux",
          `a=rtpmap:${pt}`,
        ].join(eol) + eol;
      }
      return sdp.replace(
        /a=group:BUNDLE ([^\r\n]*)/,
        (_, m) => `a=group:BUNDLE ${m} ${mids.join(" ")}`,
      );
    }
    case "candidates":
      for (let i = 0; i < n; i++) {
        sdp += `a=candidate:${i} 1 udp ${2122260223 - i} 192.0.2.${i % 250 + 1} ${
          10000 + i
        } typ host${eol}`;
      }
      return sdp;
    case "payload-types": {
      const pts = Array.from({ length: n }, (_, i) => 35 + (i % 93));
      const unique = [...new Set(pts)];
      const extra = n - unique.length;
      // Payload types repeat past 93; the m-line still lists `n` of them.
      const list = [...unique, ...unique.slice(0, extra)].join(" ");
      sdp = sdp.replace(/^(m=video \S+ \S+) .*$/m, `$1 ${list}`);
      const unmapped = unique.filter((pt) => !sdp.includes(`a=rtpmap:${pt} `));
      return sdp + unmapped.map((pt) => `a=rtpmap:${pt} VP8/90000`).join(eol) + eol;
    }
    case "rids":
      for (let i = 0; i < n; i++) sdp += `a=rid:r${i} send${eol}`;
      return sdp +
        `a=simulcast:send ${Array.from({ length: n }, (_, i) => `r${i}`).join(";")}${eol}`;
    case "lines": {
      // Harmless session-level attributes, placed before the first m-line.
      const filler = Array.from({ length: n }, (_, i) => `a=x-filler:${i}`).join(eol) + eol;
      return sdp.replace(/^m=/m, `${filler}m=`);
    }
  }
}
