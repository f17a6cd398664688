#!/usr/bin/env bash
# A whole WHIP / WHEP session against a running server, with nothing but curl (and grep/awk/sed),
# using the real offers of tests/fixtures. Every check prints one line, "ok - ..." or
# "not ok - ..." (diagnostics follow as "#" lines); the last line is "N passed, M failed" and the
# exit status is non-zero when anything failed. tests/curl/curl_test.ts runs it in CI.
#
# Environment:
#   BASE              server URL, e.g. http://127.0.0.1:8080
#   HOST_TOKEN        host token of the room "demo" (identity "host")
#   GUEST_TOKEN       participant token of "demo" (another identity)
#   OTHER_ROOM_TOKEN  host token of another room
#   EMOJI_HOST_TOKEN  host token of the room 🎸
#   FIXTURES          path of tests/fixtures
#
# The walkthrough ends by closing the rooms "demo" and 🎸 (DELETE /rooms/...).
# By hand, against `npx -y deno task start`: take the host and participant tokens from the demo
# banner and mint the others with `npx -y deno task token --room elsewhere --role host --sub other`
# and `npx -y deno task token --room 🎸 --role host --sub rocker` (JWT_SECRET as printed), e.g.
#   BASE=http://127.0.0.1:8080 HOST_TOKEN=… GUEST_TOKEN=… OTHER_ROOM_TOKEN=… EMOJI_HOST_TOKEN=… \
#   FIXTURES=tests/fixtures bash tests/curl/walkthrough.sh
# The README's own curl block is run by tests/curl/curl_test.ts as it stands in README.md.
set -euo pipefail

: "${BASE:?set BASE, e.g. http://127.0.0.1:8080}"
: "${HOST_TOKEN:?set HOST_TOKEN (host of demo)}"
: "${GUEST_TOKEN:?set GUEST_TOKEN (participant of demo)}"
: "${OTHER_ROOM_TOKEN:?set OTHER_ROOM_TOKEN (host of another room)}"
: "${EMOJI_HOST_TOKEN:?set EMOJI_HOST_TOKEN (host of the room 🎸)}"
: "${FIXTURES:?set FIXTURES to the tests/fixtures directory}"
BASE=${BASE%/}
command -v curl >/dev/null || {
  echo "curl is required" >&2
  exit 2
}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
HDRS=$WORK/headers
BODY=$WORK/body
PASSED=0
FAILED=0
STATUS=000
TIME=0
LAST=""
CTX=""

SDP=application/sdp
FRAG=application/trickle-ice-sdpfrag
EMOJI=%F0%9F%8E%B8 # 🎸
AUTH_HOST=(-H "Authorization: Bearer $HOST_TOKEN")
AUTH_GUEST=(-H "Authorization: Bearer $GUEST_TOKEN")
AUTH_OTHER=(-H "Authorization: Bearer $OTHER_ROOM_TOKEN")
AUTH_EMOJI=(-H "Authorization: Bearer $EMOJI_HOST_TOKEN")

# ---------------------------------------------------------------------------------------------
# helpers

ok() {
  PASSED=$((PASSED + 1))
  echo "ok - $*"
}

not_ok() {
  FAILED=$((FAILED + 1))
  echo "not ok - $*"
}

# Prints the last response's status and the start of its body as "#" lines.
diag() {
  echo "#   got HTTP $STATUS; body: $(head -c 400 "$BODY" | tr -d '\r' | tr '\n' ' ')"
}

# req METHOD PATH [curl args...]: sends the request; sets STATUS and TIME, writes HDRS and BODY.
# Set CTX just before to name the request in the output (e.g. the fixture used).
req() {
  local method=$1 path=$2
  shift 2
  local -a how=(-X "$method")
  [[ $method == HEAD ]] && how=(--head)
  LAST="$method $path${CTX:+ [$CTX]}"
  CTX=""
  : >"$HDRS"
  : >"$BODY"
  local out
  out=$(curl -sS --max-time 20 -H 'Expect:' -o "$BODY" -D "$HDRS" \
    -w '%{http_code} %{time_total}' "${how[@]}" "$@" "$BASE$path") || out="000 0"
  STATUS=${out%% *}
  TIME=${out##* }
  # curl --head copies the headers into the -o file too: a HEAD response has no body.
  if [[ $method == HEAD ]]; then : >"$BODY"; fi
}

# hdr NAME: the value of the last NAME header of the last response ("" when absent).
hdr() {
  tr -d '\r' <"$HDRS" | awk -v n="$1" '
    { i = index($0, ":"); if (i > 0 && tolower(substr($0, 1, i - 1)) == tolower(n)) {
        v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); val = v } }
    END { printf "%s", val }'
}

# check DESCRIPTION COMMAND...: ok when the command succeeds.
check() {
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# expect_status "201" or "200|204" [NOTE]
expect_status() {
  local want=$1 note=${2:-}
  if [[ "|$want|" == *"|$STATUS|"* ]]; then
    ok "$LAST -> $STATUS${note:+ ($note)}"
  else
    not_ok "$LAST -> $STATUS, expected $want${note:+ ($note)}"
    diag
  fi
}

# expect_header NAME ERE [WHAT]: the header exists and matches the extended regular expression.
expect_header() {
  local name=$1 re=$2 what=${3:-} value
  value=$(hdr "$name")
  if [[ -n $value && $value =~ $re ]]; then
    ok "$LAST: $name: $value${what:+ ($what)}"
  else
    not_ok "$LAST: $name is '${value}', expected /$re/${what:+ ($what)}"
  fi
}

# expect_body ERE DESCRIPTION: some line of the body matches (CR stripped).
expect_body() {
  if tr -d '\r' <"$BODY" | grep -Eq -- "$1"; then
    ok "$LAST: body $2"
  else
    not_ok "$LAST: body $2 (no line matches /$1/)"
    diag
  fi
}

expect_empty_body() {
  if [[ ! -s $BODY ]]; then ok "$LAST: empty body"; else not_ok "$LAST: body is not empty"; fi
}

# expect_problem STATUS: the status, application/problem+json, a type or title and a detail.
expect_problem() {
  expect_status "$1"
  expect_header Content-Type '^application/problem\+json'
  if grep -Eq '"(type|title)"[[:space:]]*:' "$BODY" && grep -Eq '"detail"[[:space:]]*:' "$BODY"; then
    ok "$LAST: problem details with type/title and detail"
  else
    not_ok "$LAST: problem details with type/title and detail"
    diag
  fi
}

# expect_created: the 201 of a WHIP/WHEP POST, as API.md describes it.
expect_created() {
  expect_status 201
  [[ $STATUS == 201 ]] || return 0
  expect_header Content-Type '^application/sdp'
  expect_header Location '^/[^/]' "an absolute path"
  expect_header Location '/[A-Za-z0-9_-]{22,}$' "an id of at least 128 bits"
  expect_header ETag '.'
  expect_header Accept-Patch 'application/trickle-ice-sdpfrag'
  expect_body '^a=end-of-candidates$' "has a=end-of-candidates"
  expect_body '^a=candidate:' "has at least one a=candidate"
  check "$LAST: every SDP line ends in CRLF" crlf_only "$BODY"
}

crlf_only() {
  [[ -s $1 ]] && ! grep -qv $'\r$' "$1"
}

# The session URL and ETag of the last response.
location() { hdr Location; }
etag() { hdr ETag; }

# video_codec FILE: upper-cased name of the first payload type of the first accepted video m-line.
video_codec() {
  tr -d '\r' <"$1" | awk '
    /^m=/ { inv = ($1 == "m=video" && $2 != "0" && !done); if (inv) { pt = $4; done = 1 }; next }
    inv && /^a=rtpmap:/ { split($0, a, /[: \/]/); if (a[2] == pt && name == "") name = toupper(a[3]) }
    END { print name }'
}

# offers_video FILE CODEC: whether the first accepted video m-line of FILE can receive CODEC
# (H264 only with packetization-mode=1, the only mode the server forwards).
offers_video() {
  tr -d '\r' <"$1" | awk -v want="$(tr '[:lower:]' '[:upper:]' <<<"$2")" '
    /^m=/ { inv = ($1 == "m=video" && $2 != "0" && !done); if (inv) done = 1; next }
    inv && /^a=rtpmap:/ { split($0, a, /[: \/]/); names[a[2]] = toupper(a[3]) }
    inv && /^a=fmtp:/ { split($0, a, /[: ]/); fmtp[a[2]] = $0 }
    END {
      for (pt in names)
        if (names[pt] == want && (want != "H264" || fmtp[pt] ~ /packetization-mode=1/)) found = 1
      exit !found
    }'
}

# opus_fmtp FILE: the fmtp parameters of the Opus payload type of FILE.
opus_fmtp() {
  tr -d '\r' <"$1" | awk '
    tolower($0) ~ /^a=rtpmap:[0-9]+ opus\// { split($0, a, /[: ]/); pt = a[2] }
    /^a=fmtp:/ { split($0, a, /[: ]/); f[a[2]] = substr($0, index($0, " ") + 1) }
    END { print f[pt] }'
}

has_stereo() { opus_fmtp "$1" | grep -Eq '(^|;)[[:space:]]*stereo=1([[:space:];]|$)'; }

# bundle_has FILE MID: the a=group:BUNDLE line of FILE lists MID.
bundle_has() { tr -d '\r' <"$1" | grep -Eq "^a=group:BUNDLE( [^ ]+)* $2( |$)"; }

# first_attr FILE NAME: the value of the first a=NAME: line.
first_attr() { tr -d '\r' <"$1" | sed -n "s/^a=$2://p" | head -n 1; }

differs() { [[ -n $1 && $1 != "$2" ]]; }

lt_seconds() { awk -v t="$1" -v max="$2" 'BEGIN { exit !(t < max) }'; }

post_sdp() { # post_sdp PATH FIXTURE AUTH...
  local path=$1 fixture=$2
  shift 2
  CTX="$fixture${CTX:+, $CTX}"
  req POST "$path" "$@" -H "Content-Type: $SDP" --data-binary "@$FIXTURES/$fixture"
}

patch_frag() { # patch_frag URL BODY IF-MATCH|- AUTH...
  local url=$1 body=$2 match=$3
  shift 3
  local -a cond=()
  [[ $match != - ]] && cond=(-H "If-Match: $match")
  req PATCH "$url" "$@" -H "Content-Type: $FRAG" "${cond[@]}" --data-binary "$body"
}

crlf() { printf '%s\r\n' "$@"; }

for f in obs-style-publish chromium-publish chromium-publish-lf gstreamer-publish pion-publish \
  libdatachannel-publish libwebrtc-m106-publish chromium-play gstreamer-play pion-play \
  libdatachannel-play libwebrtc-m106-play; do
  [[ -r $FIXTURES/$f.sdp ]] || {
    echo "missing fixture $FIXTURES/$f.sdp" >&2
    exit 2
  }
done

# ---------------------------------------------------------------------------------------------
echo "# discovery, CORS, health"

req OPTIONS /whip/demo -H 'Origin: https://encoder.example' \
  -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: authorization, content-type'
expect_status 204
expect_header Accept-Post '(^|[ ,])application/sdp([ ,;]|$)'
expect_header Access-Control-Allow-Headers '(^|[ ,])[Aa]uthorization([ ,]|$)' "has Authorization"
expect_header Access-Control-Allow-Headers '(^|[ ,])[Ii]f-[Mm]atch([ ,]|$)' "has If-Match"
expect_header Access-Control-Expose-Headers '(^|[ ,])[Ll]ocation([ ,]|$)' "exposes Location"
expect_header Access-Control-Expose-Headers '(^|[ ,])ET[Aa][Gg]([ ,]|$)' "exposes ETag"

req OPTIONS /whep/demo
expect_status 204
expect_header Accept-Post '(^|[ ,])application/sdp([ ,;]|$)'

req HEAD /whep/demo
expect_status 200
expect_header Content-Type '^application/sdp'
req GET /whip/demo
expect_status "200|201|202|203|204" "2xx, RFC 9725 removed the 405"
expect_empty_body
req GET /whep/demo
expect_status "200|201|202|203|204"
expect_empty_body
req PUT /whip/demo "${AUTH_HOST[@]}"
expect_problem 405
expect_header Allow 'POST'

req GET /healthz
expect_status 200
req GET /metrics
expect_status 200
expect_header Content-Type '^text/plain'

# ---------------------------------------------------------------------------------------------
echo "# tokens and bad requests"

CTX="no token"
post_sdp /whip/demo obs-style-publish.sdp
expect_problem 401
expect_header WWW-Authenticate '^Bearer'
CTX="malformed token"
req POST /whep/demo -H 'Authorization: Bearer not.a.jwt'
expect_problem 401
expect_header WWW-Authenticate '^Bearer'
CTX="token of another room"
post_sdp /whip/demo obs-style-publish.sdp "${AUTH_OTHER[@]}"
expect_problem 403
CTX="Content-Type: text/plain"
req POST /whip/demo "${AUTH_HOST[@]}" -H 'Content-Type: text/plain' \
  --data-binary "@$FIXTURES/obs-style-publish.sdp"
expect_problem 415
CTX="malformed SDP"
req POST /whip/demo "${AUTH_HOST[@]}" -H "Content-Type: $SDP" --data-binary 'hello, world'
expect_problem 400
post_sdp /whip/a%2Fb obs-style-publish.sdp "${AUTH_HOST[@]}"
expect_problem 400
LONG65=$(printf 'r%.0s' {1..65})
LONG64=${LONG65:1}
post_sdp "/whip/$LONG65" obs-style-publish.sdp "${AUTH_HOST[@]}"
expect_problem 400
CTX="64 characters: a valid name, but not the token's room"
post_sdp "/whip/$LONG64" obs-style-publish.sdp "${AUTH_HOST[@]}"
expect_problem 403
CTX="server-offer"
req POST /whep/a%20b "${AUTH_HOST[@]}"
expect_problem 400

# ---------------------------------------------------------------------------------------------
echo "# the host opens demo and publishes with every publisher's offer (each replaces the last)"

req PUT /rooms/demo "${AUTH_HOST[@]}"
expect_status "200|201" "opening again is idempotent for its host"

PREVIOUS=""
PUB=""
PUB_ETAG=""
PUB_FIXTURE=""
PUB_TIME=0
# Publishes FIXTURE as the host and checks the 201. Make-before-break: the previous session stays
# until the new one's media arrives (a fixture's never does), so it is ended here by DELETE.
publish() {
  local fixture=$1
  post_sdp /whip/demo "$fixture" "${AUTH_HOST[@]}"
  expect_created
  PUB_TIME=$TIME
  cp "$BODY" "$WORK/answer-$fixture"
  PREVIOUS=$PUB
  PUB=$(location)
  PUB_ETAG=$(etag)
  PUB_FIXTURE=$fixture
  if [[ -n $PREVIOUS && $STATUS == 201 ]]; then
    CTX="$fixture posted after it"
    req DELETE "$PREVIOUS" "${AUTH_HOST[@]}"
    expect_status 200 "a second WHIP POST does not end the first session before its media arrives"
  fi
}

# Plays the host's publication with each player's offer: 201 with the publication's video codec
# when the offer can receive it, else 406. The sessions are ended afterwards.
play_all() {
  local codec
  codec=$(video_codec "$WORK/answer-$PUB_FIXTURE")
  echo "# playing $PUB_FIXTURE (video $codec)"
  local player
  for player in chromium-play gstreamer-play pion-play libdatachannel-play libwebrtc-m106-play; do
    post_sdp /whep/demo "$player.sdp" "${AUTH_HOST[@]}"
    if offers_video "$FIXTURES/$player.sdp" "$codec"; then
      expect_created
      local got
      got=$(video_codec "$BODY")
      check "$LAST: the answer's video is the publication's codec ($codec, got ${got:-none})" \
        test "$got" = "$codec"
      cp "$BODY" "$WORK/answer-$player"
      if [[ $player == gstreamer-play ]]; then
        # Its audio m-line has port 0 and a=bundle-only: bundled, not rejected (RFC 8843).
        check "$LAST: the answer accepts the bundle-only audio (a=group:BUNDLE lists audio1)" \
          bundle_has "$BODY" audio1
      fi
      local url
      url=$(location)
      req DELETE "$url" "${AUTH_HOST[@]}"
      expect_status 200
    else
      expect_problem 406 # the offer cannot receive the publication's video codec
    fi
  done
}

publish chromium-publish.sdp
play_all
publish chromium-publish-lf.sdp
publish gstreamer-publish.sdp
# GStreamer's audio m-line has port 0 and a=bundle-only: bundled, not rejected (RFC 8843).
GST_ANSWER=$WORK/answer-gstreamer-publish.sdp
if bundle_has "$GST_ANSWER" audio1; then
  ok "gstreamer-publish: the answer accepts the bundle-only audio (a=group:BUNDLE lists audio1)"
else
  not_ok "gstreamer-publish: the answer accepts the bundle-only audio (a=group:BUNDLE lists audio1)"
  tr -d '\r' <"$GST_ANSWER" | grep -E '^(a=group:|m=audio|a=inactive)' | sed 's/^/#   got /' || true
fi
publish pion-publish.sdp
publish libdatachannel-publish.sdp
publish libwebrtc-m106-publish.sdp
publish obs-style-publish.sdp
check "POST /whip/demo [obs-style-publish.sdp]: answered in ${PUB_TIME} s, under 2 s" \
  lt_seconds "$PUB_TIME" 2
play_all
STEREO="chromium-play after obs-style-publish (Opus stereo=1): the answer echoes stereo=1"
if has_stereo "$WORK/answer-chromium-play"; then
  ok "$STEREO"
else
  not_ok "$STEREO"
  echo "#   got Opus fmtp: $(opus_fmtp "$WORK/answer-chromium-play")"
fi

# ---------------------------------------------------------------------------------------------
echo "# WHEP server-offer mode"

CTX="empty body: server offer"
req POST /whep/demo "${AUTH_GUEST[@]}"
expect_created
expect_body '^a=(sendonly|sendrecv)$' "offers media to the client (a=sendonly or a=sendrecv)"
expect_body '^a=setup:actpass$' "has a=setup:actpass"
SERVER_OFFER_SESSION=$(location)
# The client's answer: the offer turned around (recvonly, setup:active, our own ICE credentials).
tr -d '\r' <"$BODY" | sed -e '/^a=candidate:/d' -e '/^a=end-of-candidates/d' \
  -e '/^a=ssrc/d' -e '/^a=msid/d' \
  -e 's/^a=sendonly$/a=recvonly/' -e 's/^a=sendrecv$/a=recvonly/' \
  -e 's/^a=setup:actpass$/a=setup:active/' \
  -e 's/^a=ice-ufrag:.*/a=ice-ufrag:cUrL/' -e 's/^a=ice-pwd:.*/a=ice-pwd:curlwalkthroughpassword00/' \
  -e 's/$/\r/' >"$WORK/client-answer.sdp"
CTX="the client's SDP answer"
req PATCH "$SERVER_OFFER_SESSION" "${AUTH_GUEST[@]}" -H "Content-Type: $SDP" \
  --data-binary "@$WORK/client-answer.sdp"
expect_status 204

# ---------------------------------------------------------------------------------------------
echo "# trickle ICE and ICE restart on the OBS-style WHIP session"

UFRAG=$(first_attr "$FIXTURES/obs-style-publish.sdp" ice-ufrag)
PWD_=$(first_attr "$FIXTURES/obs-style-publish.sdp" ice-pwd)
TRICKLE=$(crlf "a=ice-ufrag:$UFRAG" "a=ice-pwd:$PWD_" "m=audio 9 UDP/TLS/RTP/SAVPF 111" "a=mid:0" \
  "a=candidate:1 1 udp 2113937151 192.0.2.10 50000 typ host" "a=end-of-candidates")

CTX="If-Match: the ETag"
patch_frag "$PUB" "$TRICKLE" "$PUB_ETAG" "${AUTH_HOST[@]}"
expect_status 204
CTX="no If-Match"
patch_frag "$PUB" "$TRICKLE" - "${AUTH_HOST[@]}"
expect_problem 428
CTX="wrong If-Match"
patch_frag "$PUB" "$TRICKLE" '"not-the-etag"' "${AUTH_HOST[@]}"
expect_problem 412
CTX="mDNS candidate, dropped silently"
patch_frag "$PUB" "$(crlf "a=ice-ufrag:$UFRAG" "a=ice-pwd:$PWD_" \
  "m=audio 9 UDP/TLS/RTP/SAVPF 111" "a=mid:0" \
  "a=candidate:2 1 udp 2113937151 0b7c2f4e-3a1d-4c7e-9f1a-5d2e8b6c4a10.local 50001 typ host")" \
  "$PUB_ETAG" "${AUTH_HOST[@]}"
expect_status 204
CTX="unknown mid"
patch_frag "$PUB" "$(crlf "a=ice-ufrag:$UFRAG" "a=ice-pwd:$PWD_" "m=audio 9 RTP/AVP 0" \
  "a=mid:no-such-mid" "a=candidate:1 1 udp 2113937151 192.0.2.10 50000 typ host")" \
  "$PUB_ETAG" "${AUTH_HOST[@]}"
expect_problem 422
CTX="sdpfrag that is not one"
patch_frag "$PUB" "this is not an sdpfrag" "$PUB_ETAG" "${AUTH_HOST[@]}"
expect_problem 400
CTX="wrong Content-Type"
req PATCH "$PUB" "${AUTH_HOST[@]}" -H 'Content-Type: text/plain' -H "If-Match: $PUB_ETAG" \
  --data-binary "$TRICKLE"
expect_problem 415
CTX="participant on the host's session"
patch_frag "$PUB" "$TRICKLE" "$PUB_ETAG" "${AUTH_GUEST[@]}"
expect_problem 403
CTX="unknown session"
patch_frag /sessions/AAAAAAAAAAAAAAAAAAAAAA "$TRICKLE" '*' "${AUTH_HOST[@]}"
expect_problem 404

CTX="If-Match: * with new credentials: ICE restart"
patch_frag "$PUB" "$(crlf "a=ice-ufrag:R3st" "a=ice-pwd:restartrestartrestart0001")" '*' \
  "${AUTH_HOST[@]}"
expect_status 200
expect_header Content-Type '^application/trickle-ice-sdpfrag'
expect_header ETag '.'
RESTART_ETAG=$(etag)
check "$LAST: the new ETag ($RESTART_ETAG) differs from the old one ($PUB_ETAG)" \
  differs "$RESTART_ETAG" "$PUB_ETAG"
expect_body '^a=ice-ufrag:' "has the server's new a=ice-ufrag"
expect_body '^a=ice-pwd:' "has the server's new a=ice-pwd"
expect_body '^a=candidate:' "has the server's candidates"
CTX="old ETag after the restart"
patch_frag "$PUB" "$TRICKLE" "$PUB_ETAG" "${AUTH_HOST[@]}"
expect_problem 412
CTX="new ETag after the restart"
patch_frag "$PUB" "$(crlf "a=ice-ufrag:R3st" "a=ice-pwd:restartrestartrestart0001" \
  "m=audio 9 UDP/TLS/RTP/SAVPF 111" "a=mid:0" \
  "a=candidate:3 1 udp 2113937151 192.0.2.11 50002 typ host")" "$RESTART_ETAG" "${AUTH_HOST[@]}"
expect_status 204

# ---------------------------------------------------------------------------------------------
echo "# a participant publishes its own media; rooms"

post_sdp /whip/demo libdatachannel-publish.sdp "${AUTH_GUEST[@]}"
expect_created
GUEST_PUB=$(location)
post_sdp "/whep/demo?publisher=guest" libdatachannel-play.sdp "${AUTH_HOST[@]}"
expect_created
check "$LAST: plays the participant's H264" test "$(video_codec "$BODY")" = H264
CTX="participant ends the host's session"
req DELETE "$PUB" "${AUTH_GUEST[@]}"
expect_problem 403
CTX="host ends the participant's session"
req DELETE "$GUEST_PUB" "${AUTH_HOST[@]}"
expect_status 200

req GET /rooms/demo "${AUTH_GUEST[@]}"
expect_status 200
expect_header Content-Type '^application/json'
expect_body '"demo"' 'names the room'
CTX="token of another room"
req GET /rooms/demo "${AUTH_OTHER[@]}"
expect_problem 403
CTX="participant closes the room"
req DELETE /rooms/demo "${AUTH_GUEST[@]}"
expect_problem 403

# ---------------------------------------------------------------------------------------------
echo "# the room 🎸"

req PUT "/rooms/$EMOJI" "${AUTH_EMOJI[@]}"
expect_status "200|201"
post_sdp "/whip/$EMOJI" pion-publish.sdp "${AUTH_EMOJI[@]}"
expect_created
EMOJI_PUB=$(location)
req GET "/rooms/$EMOJI" "${AUTH_EMOJI[@]}"
expect_status 200
expect_body '🎸|\\u[dD]83[cC]\\u[dD][fF][bB]8' 'names the room 🎸'
CTX="token of the room 🎸"
post_sdp /whip/demo pion-publish.sdp "${AUTH_EMOJI[@]}"
expect_problem 403
CTX="token of the room demo"
post_sdp "/whep/$EMOJI" pion-play.sdp "${AUTH_HOST[@]}"
expect_problem 403
req DELETE "$EMOJI_PUB" "${AUTH_EMOJI[@]}"
expect_status 200
req DELETE "/rooms/$EMOJI" "${AUTH_EMOJI[@]}"
expect_status 200

# ---------------------------------------------------------------------------------------------
echo "# ending the session and the room"

CTX="no token"
req DELETE "$PUB"
expect_problem 401
req DELETE "$PUB" "${AUTH_HOST[@]}"
expect_status 200
CTX="again"
req DELETE "$PUB" "${AUTH_HOST[@]}"
expect_problem 404
req DELETE /rooms/demo "${AUTH_HOST[@]}"
expect_status 200
CTX="a session of the closed room"
req DELETE "$SERVER_OFFER_SESSION" "${AUTH_GUEST[@]}"
expect_problem 404
CTX="server-offer, room closed"
req POST /whep/demo "${AUTH_GUEST[@]}"
expect_problem 404

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
