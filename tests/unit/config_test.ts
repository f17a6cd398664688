import assert from "node:assert/strict";
import {
  CONFIG_VARIABLES,
  ConfigError,
  loadConfig,
  parseIceServer,
  parseSeconds,
} from "../../src/config.ts";

const SECRET = "0123456789abcdef0123456789abcdef"; // 32 bytes, the least HS256 accepts

/** An environment lookup over a plain record (and nothing else: never the process env). */
const envOf = (vars: Record<string, string>) => (name: string): string | undefined => vars[name];

/** Loads `vars`, expecting a ConfigError, and returns its message. */
const failure = (vars: Record<string, string>): string => {
  let caught: unknown;
  try {
    loadConfig(envOf(vars));
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError for ${JSON.stringify(vars)}`);
  assert.equal(caught.name, "ConfigError");
  return caught.message;
};

/** The message's line (one per bad variable) that starts with `name:`. */
const lineOf = (message: string, name: string): string | undefined =>
  message.split("\n").map((l) => l.trim()).find((l) => l.startsWith(`${name}:`));

Deno.test("loadConfig defaults", async (t) => {
  await t.step("an empty environment is demo mode with a generated secret", () => {
    const c = loadConfig(envOf({}));
    assert.equal(c.demo, true);
    assert.ok(c.jwtSecret instanceof Uint8Array);
    // 24 random bytes in base64: 32 characters, the 32 bytes required of JWT_SECRET.
    assert.ok(c.jwtSecret.length >= 32, `secret length ${c.jwtSecret.length}`);
    assert.equal(c.jwksFile, undefined);
  });

  await t.step("the generated secret differs between runs", () => {
    const a = loadConfig(envOf({})).jwtSecret!;
    const b = loadConfig(envOf({})).jwtSecret!;
    assert.notDeepEqual(a, b);
  });

  await t.step("documented default values", () => {
    const c = loadConfig(envOf({}));
    assert.equal(c.port, 8080);
    assert.equal(c.host, "127.0.0.1", "demo mode listens on loopback unless HOST is set");
    assert.equal(loadConfig(envOf({ JWT_SECRET: SECRET })).host, "0.0.0.0", "with a key: all");
    assert.equal(loadConfig(envOf({ HOST: "0.0.0.0" })).host, "0.0.0.0", "HOST opens the demo");
    assert.equal(c.maxParticipants, 1);
    assert.equal(c.jwtMaxTtl, 86400);
    assert.deepEqual(c.announcedIps, []);
    assert.equal(c.udpPortRange, undefined);
    assert.deepEqual(c.iceServers, []);
    assert.equal(c.iceGatherTimeout, 2);
    assert.equal(c.iceLoopback, false);
    assert.equal(c.maxBodyBytes, 64 * 1024);
    assert.equal(c.corsOrigin, "*");
    assert.equal(c.metricsEnabled, true);
    assert.equal(c.maxSessions, 2000);
    assert.equal(c.logLevel, "info");
    assert.equal(c.jwtIssuer, undefined);
    assert.equal(c.jwtAudience, undefined);
  });

  await t.step("empty strings count as unset", () => {
    const empty = Object.fromEntries(CONFIG_VARIABLES.map((n) => [n, ""]));
    const c = loadConfig(envOf(empty));
    assert.equal(c.demo, true);
    assert.equal(c.port, 8080);
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.maxParticipants, 1);
    assert.equal(c.jwtMaxTtl, 86400);
    assert.equal(c.logLevel, "info");
    assert.deepEqual(c.iceServers, []);
    assert.deepEqual(c.announcedIps, []);
    assert.equal(c.udpPortRange, undefined);
  });

  await t.step("CONFIG_VARIABLES lists what loadConfig reads, and only that", () => {
    const read = new Set<string>();
    loadConfig((name) => {
      read.add(name);
      return undefined;
    });
    assert.deepEqual([...read].sort(), [...CONFIG_VARIABLES].sort());
    for (
      const name of [
        "PORT",
        "HOST",
        "JWT_SECRET",
        "JWT_JWKS_FILE",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "JWT_MAX_TTL",
        "ANNOUNCED_IPS",
        "UDP_PORT_MIN",
        "UDP_PORT_MAX",
        "ICE_SERVERS",
        "MAX_PARTICIPANTS",
        "LOG_LEVEL",
      ]
    ) {
      assert.ok(CONFIG_VARIABLES.includes(name), name);
    }
  });
});

Deno.test("loadConfig with values", async (t) => {
  await t.step("JWT_SECRET turns demo mode off and is used as given", () => {
    const c = loadConfig(envOf({ JWT_SECRET: SECRET }));
    assert.equal(c.demo, false);
    assert.deepEqual(c.jwtSecret, new TextEncoder().encode(SECRET));
  });

  await t.step("JWT_JWKS_FILE alone: not demo mode, no HS256 secret", () => {
    const c = loadConfig(envOf({ JWT_JWKS_FILE: "/etc/sfu/jwks.json" }));
    assert.equal(c.demo, false);
    assert.equal(c.jwtSecret, undefined);
    assert.equal(c.jwksFile, "/etc/sfu/jwks.json");
  });

  await t.step("every variable is read and typed", () => {
    const c = loadConfig(envOf({
      PORT: "9000",
      HOST: "127.0.0.1",
      JWT_SECRET: SECRET,
      JWT_ISSUER: "https://issuer.example",
      JWT_AUDIENCE: "sfu",
      JWT_MAX_TTL: "30m",
      ANNOUNCED_IPS: "203.0.113.7, 2001:db8::1",
      UDP_PORT_MIN: "40000",
      UDP_PORT_MAX: "40100",
      ICE_SERVERS: "stun:stun.example.org:3478",
      ICE_GATHER_TIMEOUT: "5",
      ICE_LOOPBACK: "yes",
      MAX_PARTICIPANTS: "0",
      MAX_BODY_BYTES: "2048",
      CORS_ORIGIN: "https://app.example",
      METRICS: "0",
      MAX_SESSIONS: "10",
      LOG_LEVEL: "debug",
    }));
    assert.equal(c.port, 9000);
    assert.equal(c.host, "127.0.0.1");
    assert.equal(c.jwtIssuer, "https://issuer.example");
    assert.equal(c.jwtAudience, "sfu");
    assert.equal(c.jwtMaxTtl, 1800);
    assert.deepEqual(c.announcedIps, ["203.0.113.7", "2001:db8::1"]);
    assert.deepEqual(c.udpPortRange, [40000, 40100]);
    assert.deepEqual(c.iceServers, [{
      url: "stun:stun.example.org:3478",
      username: undefined,
      credential: undefined,
    }]);
    assert.equal(c.iceGatherTimeout, 5);
    assert.equal(c.iceLoopback, true);
    assert.equal(c.maxParticipants, 0);
    assert.equal(c.maxBodyBytes, 2048);
    assert.equal(c.corsOrigin, "https://app.example");
    assert.equal(c.metricsEnabled, false);
    assert.equal(c.maxSessions, 10);
    assert.equal(c.logLevel, "debug");
  });

  await t.step("ICE_SERVERS parses stun and turn entries with user:pass", () => {
    const c = loadConfig(envOf({
      ICE_SERVERS:
        "stun:stun.example.org:3478, turn:alice:s3cret@turn.example.org:3478?transport=udp,turns:bob:pw@turn.example.org:5349",
    }));
    assert.deepEqual(c.iceServers, [
      { url: "stun:stun.example.org:3478", username: undefined, credential: undefined },
      {
        url: "turn:turn.example.org:3478?transport=udp",
        username: "alice",
        credential: "s3cret",
      },
      { url: "turns:turn.example.org:5349", username: "bob", credential: "pw" },
    ]);
  });
});

Deno.test("loadConfig rejects bad values, naming the variable", async (t) => {
  const cases: [string, Record<string, string>][] = [
    ["PORT", { PORT: "abc" }],
    ["PORT", { PORT: "70000" }],
    ["PORT", { PORT: "-1" }],
    ["PORT", { PORT: "80.5" }],
    ["ANNOUNCED_IPS", { ANNOUNCED_IPS: "not-an-ip" }],
    ["ANNOUNCED_IPS", { ANNOUNCED_IPS: "203.0.113.7,999.1.1.1" }],
    ["UDP_PORT_MIN", { UDP_PORT_MIN: "40000" }],
    ["UDP_PORT_MIN", { UDP_PORT_MAX: "40000" }],
    ["UDP_PORT_MIN", { UDP_PORT_MIN: "40000", UDP_PORT_MAX: "40000" }],
    ["UDP_PORT_MIN", { UDP_PORT_MIN: "40100", UDP_PORT_MAX: "40000" }],
    ["JWT_SECRET", { JWT_SECRET: "short" }],
    ["JWT_SECRET", { JWT_SECRET: "0123456789abcde" }], // 15 characters
    ["JWT_SECRET", { JWT_SECRET: SECRET.slice(1) }], // 31 bytes (RFC 7518 §3.2: 32 or more)
    ["JWT_SECRET", { JWT_SECRET: "é".repeat(15) + "x" }], // 16 characters, 31 bytes
    ["JWT_SECRET", { JWT_SECRET: SECRET, JWT_JWKS_FILE: "/etc/sfu/jwks.json" }],
    ["JWT_MAX_TTL", { JWT_MAX_TTL: "forever" }],
    ["JWT_MAX_TTL", { JWT_MAX_TTL: "0" }],
    ["JWT_MAX_TTL", { JWT_MAX_TTL: "-5" }],
    ["ICE_SERVERS", { ICE_SERVERS: "http://x" }],
    ["ICE_SERVERS", { ICE_SERVERS: "turn:turn.example.org:3478" }],
    ["ICE_SERVERS", { ICE_SERVERS: "stun:ok.example.org:3478,turns:turn.example.org:5349" }],
    ["MAX_PARTICIPANTS", { MAX_PARTICIPANTS: "-1" }],
    ["MAX_PARTICIPANTS", { MAX_PARTICIPANTS: "1.5" }],
    ["LOG_LEVEL", { LOG_LEVEL: "loud" }],
    ["ICE_LOOPBACK", { ICE_LOOPBACK: "maybe" }],
    ["ICE_GATHER_TIMEOUT", { ICE_GATHER_TIMEOUT: "0" }],
    ["MAX_BODY_BYTES", { MAX_BODY_BYTES: "10" }],
    ["MAX_SESSIONS", { MAX_SESSIONS: "0" }],
  ];
  for (const [name, vars] of cases) {
    await t.step(`${JSON.stringify(vars)} → ${name}`, () => {
      const message = failure(vars);
      const line = lineOf(message, name);
      assert.ok(line, `no line for ${name} in:\n${message}`);
      // The message says what was given, for the variable it names; never a secret.
      const given = vars[name];
      if (name === "JWT_SECRET") assert.ok(!message.includes(given!), "the secret is not echoed");
      else if (given !== undefined) assert.ok(line.includes(`"${given}"`), line);
      // Only the bad variable is reported.
      assert.equal(message.split("\n").length, 2, message);
    });
  }

  await t.step("the JWT_SECRET message gives the rule, the length and a way to make one", () => {
    const line = lineOf(failure({ JWT_SECRET: "short" }), "JWT_SECRET")!;
    assert.match(line, /at least 32 bytes \(RFC 7518 §3\.2/);
    assert.match(line, /got 5/);
    assert.match(line, /openssl rand -base64 32/);
    assert.equal(loadConfig(envOf({ JWT_SECRET: "é".repeat(16) })).demo, false, "bytes count");
  });

  await t.step("the ICE_SERVERS message says what is wrong with the entry", () => {
    assert.match(lineOf(failure({ ICE_SERVERS: "http://x" }), "ICE_SERVERS")!, /stun: or turn:/);
    assert.match(
      lineOf(failure({ ICE_SERVERS: "turn:turn.example.org:3478" }), "ICE_SERVERS")!,
      /credentials/,
    );
  });

  await t.step("several bad values are all listed, one line each", () => {
    const message = failure({
      PORT: "abc",
      ANNOUNCED_IPS: "not-an-ip",
      JWT_SECRET: "short",
      JWT_MAX_TTL: "forever",
      ICE_SERVERS: "http://x",
      MAX_PARTICIPANTS: "-1",
      LOG_LEVEL: "loud",
    });
    const names = [
      "PORT",
      "ANNOUNCED_IPS",
      "JWT_SECRET",
      "JWT_MAX_TTL",
      "ICE_SERVERS",
      "MAX_PARTICIPANTS",
      "LOG_LEVEL",
    ];
    for (const name of names) assert.ok(lineOf(message, name), `${name} in:\n${message}`);
    assert.equal(message.split("\n").length, 1 + names.length, message);
  });

  // ConfigError's contract: "its message lists every bad variable", also when one of them is
  // wrong only in combination with another (UDP port pair, secret vs JWKS).
  await t.step("cross-variable problems are listed along with single-variable ones", () => {
    const ports = failure({ PORT: "abc", UDP_PORT_MIN: "40000" });
    assert.ok(lineOf(ports, "PORT"), ports);
    assert.ok(lineOf(ports, "UDP_PORT_MIN"), ports);
    const keys = failure({
      LOG_LEVEL: "loud",
      JWT_SECRET: SECRET,
      JWT_JWKS_FILE: "/etc/sfu/jwks.json",
    });
    assert.ok(lineOf(keys, "LOG_LEVEL"), keys);
    assert.ok(lineOf(keys, "JWT_SECRET"), keys);
  });
});

Deno.test("parseSeconds", async (t) => {
  await t.step("plain seconds and units", () => {
    assert.equal(parseSeconds("3600"), 3600);
    assert.equal(parseSeconds("90s"), 90);
    assert.equal(parseSeconds("30m"), 1800);
    assert.equal(parseSeconds("24h"), 86400);
    assert.equal(parseSeconds("2d"), 172800);
    assert.equal(parseSeconds(" 10 m "), 600);
    assert.equal(parseSeconds("0"), 0);
  });

  await t.step("rejects what is not a duration", () => {
    for (const bad of ["", "forever", "1.5h", "-3", "10w", "h", "1h30m"]) {
      assert.throws(() => parseSeconds(bad), /is not a duration/, bad);
    }
  });
});

Deno.test("parseIceServer", async (t) => {
  await t.step("stun and stuns without credentials", () => {
    assert.deepEqual(parseIceServer("stun:stun.l.google.com:19302"), {
      url: "stun:stun.l.google.com:19302",
      username: undefined,
      credential: undefined,
    });
    assert.equal(parseIceServer("stuns:stun.example.org:5349").url, "stuns:stun.example.org:5349");
  });

  await t.step("turn with credentials and transport", () => {
    assert.deepEqual(parseIceServer("turn:user:pa:ss@turn.example.org:3478?transport=tcp"), {
      url: "turn:turn.example.org:3478?transport=tcp",
      username: "user",
      credential: "pa:ss",
    });
  });

  await t.step("stun may also carry credentials", () => {
    const s = parseIceServer("stun:u:p@stun.example.org:3478");
    assert.equal(s.url, "stun:stun.example.org:3478");
    assert.equal(s.username, "u");
    assert.equal(s.credential, "p");
  });

  await t.step("turn without credentials is refused", () => {
    assert.throws(() => parseIceServer("turn:turn.example.org:3478"), /credentials/);
    assert.throws(() => parseIceServer("turns:turn.example.org:5349"), /credentials/);
  });

  await t.step("other schemes and transports are refused", () => {
    for (const bad of ["http://x", "stun:", "turn:u:p@h:1?transport=sctp", "x:stun:h:1"]) {
      assert.throws(() => parseIceServer(bad), /not a stun: or turn: URL/, bad);
    }
  });
});
