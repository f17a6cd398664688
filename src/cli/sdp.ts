/**
 * `npx -y deno task sdp`: the SDP bodies the README's curl walkthrough needs and curl cannot
 * write, read from stdin and written to stdout (no permissions at all):
 *
 * ```sh
 * npx -y deno task sdp answer < play-offer.sdp > answer.sdp   # server-offer mode: an answer
 * npx -y deno task sdp frag < my-offer.sdp > frag              # trickle ICE: one candidate
 * npx -y deno task sdp restart > restart                       # ICE restart: new credentials
 * ```
 *
 * curl is no WebRTC peer: these bodies are well formed and accepted, so they show the exchange,
 * but no media flows to curl (a real player, such as `/watch.html`, does that).
 *
 * @module
 */

/** The usage text, printed on `--help` and after a mistake. */
export const USAGE: string =
  `usage: npx -y deno task sdp answer|frag|restart  (SDP in on stdin, out on stdout)
  answer   < SERVER_OFFER   an SDP answer to the server's offer (WHEP server-offer mode):
                            recvonly, setup:active, its own ICE credentials
  frag     < YOUR_SDP       an application/trickle-ice-sdpfrag with one host candidate
                            (192.0.2.10, a documentation address) for the ICE session of YOUR_SDP
                            (the offer you POSTed, or the answer you PATCHed)
  restart                   an sdpfrag with new ICE credentials: PATCH it with If-Match: *
`;

function lines(sdp: string): string[] {
  return sdp.replaceAll("\r\n", "\n").split("\n").filter((l) => l !== "");
}

function crlf(list: string[]): string {
  return list.map((l) => `${l}\r\n`).join("");
}

function randomToken(length: number): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(crypto.getRandomValues(new Uint8Array(length)), (b) => alphabet[b % 62])
    .join("");
}

/** The offer turned around: each m-line receive-only, DTLS client, this side's ICE credentials. */
export function answerFor(offer: string): string {
  const all = lines(offer);
  if (!all.some((l) => l.startsWith("m="))) {
    throw new Error("stdin holds no SDP offer (no m= line)");
  }
  const ufrag = randomToken(8);
  const pwd = randomToken(24);
  const out: string[] = [];
  for (const l of all) {
    if (/^a=(candidate:|end-of-candidates|ssrc|ssrc-group|msid)/.test(l)) continue;
    if (l === "a=sendonly" || l === "a=sendrecv") out.push("a=recvonly");
    else if (l.startsWith("a=setup:")) out.push("a=setup:active");
    else if (l.startsWith("a=ice-ufrag:")) out.push(`a=ice-ufrag:${ufrag}`);
    else if (l.startsWith("a=ice-pwd:")) out.push(`a=ice-pwd:${pwd}`);
    else out.push(l);
  }
  return crlf(out);
}

/** A trickle sdpfrag (RFC 8840) for the ICE session `sdp` describes: its credentials, one candidate. */
export function fragFor(sdp: string): string {
  const all = lines(sdp);
  const ufrag = all.find((l) => l.startsWith("a=ice-ufrag:"));
  const pwd = all.find((l) => l.startsWith("a=ice-pwd:"));
  const m = all.find((l) => l.startsWith("m="));
  const mid = all.find((l) => l.startsWith("a=mid:"));
  if (!ufrag || !pwd || !m || !mid) {
    throw new Error("stdin holds no SDP with a=ice-ufrag, a=ice-pwd, an m= line and a=mid");
  }
  const [kind, , proto, format] = m.slice(2).split(" ");
  return crlf([
    ufrag,
    pwd,
    `m=${kind} 9 ${proto} ${format}`,
    mid,
    "a=candidate:1 1 udp 2113937151 192.0.2.10 50000 typ host",
    "a=end-of-candidates",
  ]);
}

/** An sdpfrag with fresh ICE credentials (an ICE restart). */
export function restartFrag(): string {
  return crlf([`a=ice-ufrag:${randomToken(8)}`, `a=ice-pwd:${randomToken(24)}`]);
}

/** Runs the command on `args` and `stdin`; returns the exit status and the text for each stream. */
export function run(args: string[], stdin: string): { code: number; out: string; err: string } {
  const [command, ...rest] = args;
  if (command === "--help" || command === "-h") return { code: 0, out: USAGE, err: "" };
  if (rest.length > 0 || !["answer", "frag", "restart"].includes(command ?? "")) {
    return { code: 2, out: "", err: USAGE };
  }
  try {
    if (command === "restart") return { code: 0, out: restartFrag(), err: "" };
    const out = command === "answer" ? answerFor(stdin) : fragFor(stdin);
    return { code: 0, out, err: "" };
  } catch (e) {
    return { code: 2, out: "", err: `error: ${(e as Error).message}\n${USAGE}` };
  }
}

if (import.meta.main) {
  const needsInput = Deno.args[0] === "answer" || Deno.args[0] === "frag";
  if (needsInput && Deno.stdin.isTerminal()) {
    console.error(`error: give the SDP on stdin, e.g. < offer.sdp\n${USAGE}`);
    Deno.exit(2);
  }
  const stdin = needsInput ? await new Response(Deno.stdin.readable).text() : "";
  const { code, out, err } = run(Deno.args, stdin);
  if (out) await Deno.stdout.write(new TextEncoder().encode(out));
  if (err) await Deno.stderr.write(new TextEncoder().encode(err));
  Deno.exit(code);
}
