/**
 * base64url without padding (RFC 4648 §5), for ids and ETags. JSR's `@std/encoding` is out of
 * reach from our build machines, and this is four lines.
 *
 * @module
 */

/** Encodes bytes as unpadded base64url. */
export function encodeBase64Url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}
