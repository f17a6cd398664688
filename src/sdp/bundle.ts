/**
 * RFC 8843 `a=bundle-only`: an offerer may put port 0 on a bundled m-line (GStreamer does on
 * its second one) to mean "only usable in the bundle", not "rejected". werift reads port 0 as
 * rejected, so before it sees an offer those sections get the discard port 9 (what JSEP
 * offerers write), and werift accepts them into the bundle.
 *
 * @module
 */

/** Returns `sdp` with every `bundle-only` m-line's port 0 replaced by 9. */
export function acceptBundleOnly(sdp: string): string {
  if (!/^a=bundle-only\s*$/m.test(sdp)) return sdp;
  const eol = sdp.includes("\r\n") ? "\r\n" : "\n";
  const sections = sdp.split(/\r?\n(?=m=)/);
  return sections.map((section) =>
    /^m=\S+ 0 /.test(section) && /^a=bundle-only\s*$/m.test(section)
      ? section.replace(/^(m=\S+) 0 /, "$1 9 ")
      : section
  ).join(eol);
}
