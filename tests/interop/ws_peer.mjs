#!/usr/bin/env node
// Node.js interop peer for Sluice, built on the `ws` library (pinned in package.json).
//
//   node ws_peer.mjs server [--deflate on|off] [--garbage]
//       Echo server on 127.0.0.1, any free port; the first stdout line is
//       "listening on ws://127.0.0.1:PORT". --garbage: a raw server that
//       answers the handshake and then sends one invalid frame per request
//       path (see garbageCases in frames.mjs); GET /report then sends, as one
//       text message, the close code it received from the client for each case.
//   node ws_peer.mjs client --url URL [--deflate on|off]
//       Runs the interop scenario against an echo server at URL.
//   node ws_peer.mjs raw-garbage --url URL
//       Raw TCP client: valid handshakes followed by invalid frames, and
//       non-WebSocket bytes instead of a handshake; checks the server's answers.
//
// Client modes print one line per check and exit 0 only if every check passed.
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

import { acceptKey, closeFrame, frame, garbageCases, parseFrames } from './frames.mjs';

const MiB = 1024 * 1024;
const MAX_PAYLOAD = 64 * MiB;
const STEP_TIMEOUT_MS = 30_000;
export const CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
  3000, 3999, 4000, 4999];

// --- command line ---

function parseArgs(argv) {
  const args = { mode: argv[0], deflate: 'on', garbage: false, url: null };
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--deflate') args.deflate = argv[++i];
    else if (a === '--garbage') args.garbage = true;
    else if (a === '--url') args.url = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  if (!['on', 'off'].includes(args.deflate)) throw new Error('--deflate takes on or off');
  return args;
}

// --- checks ---

class Checks {
  passed = 0;
  failed = 0;
  check(name, ok, detail = '') {
    if (ok) this.passed++;
    else this.failed++;
    console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail && !ok ? `: ${detail}` : ''}`);
    return ok;
  }
  summary(who) {
    console.log(`${who}: ${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0 && this.passed > 0 ? 0 : 1;
  }
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function describeDifference(got, want) {
  if (got.length !== want.length) return `length ${got.length}, expected ${want.length}`;
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== want[i]) return `first difference at byte ${i} of ${got.length}`;
  }
  return 'equal';
}

// --- scenario data (the same shapes as py_peer.py and interop_client.cpp) ---

/** Random valid UTF-8 of exactly `size` bytes, mostly multibyte characters. */
function randomUtf8(size) {
  const parts = [];
  let bytes = 0;
  while (size - bytes >= 4) {
    const kind = crypto.randomInt(4);
    let cp;
    if (kind === 0) cp = 0x20 + crypto.randomInt(0x5f);
    else if (kind === 1) cp = 0x80 + crypto.randomInt(0x800 - 0x80);
    else if (kind === 2) {
      do cp = 0x800 + crypto.randomInt(0x10000 - 0x800);
      while (cp >= 0xd800 && cp <= 0xdfff);
    } else cp = 0x10000 + crypto.randomInt(0x110000 - 0x10000);
    const s = String.fromCodePoint(cp);
    parts.push(s);
    bytes += Buffer.byteLength(s);
  }
  parts.push('x'.repeat(size - bytes));
  const out = Buffer.from(parts.join(''));
  if (out.length !== size) throw new Error('randomUtf8: wrong size');
  return out;
}

// --- WebSocket client helpers ---

/** Queues a connection's messages, pongs and close, for in-order awaiting. */
class Inbox {
  constructor(ws) {
    this.events = [];
    this.waiter = null;
    this.closed = null;
    ws.on('message', (data, isBinary) => this.push({ kind: 'message', data, isBinary }));
    ws.on('pong', (data) => this.push({ kind: 'pong', data }));
    ws.on('close', (code) => this.push({ kind: 'close', code }));
    ws.on('error', (error) => this.push({ kind: 'error', error }));
  }
  push(event) {
    if (event.kind === 'close') this.closed = event;
    this.events.push(event);
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w();
    }
  }
  async next(what) {
    // Once closed, every later wait gets the close at once (no step waits for nothing).
    if (this.events.length === 0 && this.closed) return this.closed;
    if (this.events.length === 0) {
      await withTimeout(new Promise((resolve) => { this.waiter = resolve; }), STEP_TIMEOUT_MS, what);
    }
    return this.events.shift();
  }
}

function open(url, deflate) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: deflate, maxPayload: MAX_PAYLOAD });
    const inbox = new Inbox(ws);
    ws.once('open', () => resolve({ ws, inbox }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function describe(event) {
  if (!event) return 'nothing';
  if (event.kind === 'message') return `${event.isBinary ? 'binary' : 'text'} message of ${event.data.length} bytes`;
  if (event.kind === 'close') return `close ${event.code}`;
  if (event.kind === 'error') return `error ${event.error.message}`;
  return `${event.kind} of ${event.data.length} bytes`;
}

/** Sends via `send` and checks that the next event is `want` ({kind, isBinary, data}). */
async function expectEcho(checks, inbox, name, send, want) {
  try {
    send();
    const got = await inbox.next(name);
    const sameKind = got.kind === want.kind && (want.kind !== 'message' || got.isBinary === want.isBinary);
    if (!sameKind) return checks.check(name, false, `got ${describe(got)}, expected ${describe(want)}`);
    return checks.check(name, Buffer.compare(got.data, want.data) === 0, describeDifference(got.data, want.data));
  } catch (error) {
    return checks.check(name, false, error.message);
  }
}

/** Waits for the close event of the WHATWG-style API, which tells wasClean. */
function closeEvent(ws) {
  return new Promise((resolve) => ws.addEventListener('close', resolve, { once: true }));
}

async function runClient(url, deflateOn) {
  const checks = new Checks();
  let conn;
  try {
    conn = await withTimeout(open(url, deflateOn), STEP_TIMEOUT_MS, 'the handshake');
  } catch (error) {
    checks.check('connect', false, error.message);
    return checks.summary('node client');
  }
  const { ws, inbox } = conn;
  checks.check('connect', true);
  const negotiated = ws.extensions.includes('permessage-deflate');
  checks.check(`permessage-deflate ${deflateOn ? '' : 'not '}negotiated`, negotiated === deflateOn,
    `extensions: "${ws.extensions}"`);

  const text = (s) => ({ kind: 'message', isBinary: false, data: Buffer.from(s) });
  const binary = (b) => ({ kind: 'message', isBinary: true, data: Buffer.from(b) });
  const hello = 'hello, sluice ✓ ünïcödé 🚀';
  await expectEcho(checks, inbox, 'text echo', () => ws.send(hello), text(hello));
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await expectEcho(checks, inbox, 'binary echo', () => ws.send(bytes), binary(bytes));
  await expectEcho(checks, inbox, 'empty text echo', () => ws.send(''), text(''));
  await expectEcho(checks, inbox, 'empty binary echo', () => ws.send(Buffer.alloc(0)), binary([]));

  // Fragments split "✓" (E2 9C 93) between frames: UTF-8 is valid only as a whole.
  const check = Buffer.from('frag ✓ mented');
  const textParts = [check.subarray(0, 6), check.subarray(6, 7), check.subarray(7)];
  await expectEcho(checks, inbox, 'fragmented text echo (3 frames, a character split)', () => {
    textParts.forEach((p, i) => ws.send(p, { binary: false, fin: i === textParts.length - 1 }));
  }, text(check));
  // Large enough (4 KiB each) for ws to compress the fragments when deflate is on.
  const binParts = [0, 1, 2].map((i) => Buffer.alloc(4096, 0x41 + i));
  await expectEcho(checks, inbox, 'fragmented binary echo (3 x 4 KiB)', () => {
    binParts.forEach((p, i) => ws.send(p, { binary: true, fin: i === binParts.length - 1 }));
  }, binary(Buffer.concat(binParts)));

  const pingPayload = Buffer.from('ping ✓ \x00\xff');
  await expectEcho(checks, inbox, 'ping -> pong with the same payload', () => ws.ping(pingPayload),
    { kind: 'pong', data: pingPayload });
  const maxPing = crypto.randomBytes(125);
  await expectEcho(checks, inbox, 'ping with 125-byte payload -> same pong', () => ws.ping(maxPing),
    { kind: 'pong', data: maxPing });

  const bigText = randomUtf8(MiB);
  await expectEcho(checks, inbox, '1 MiB multibyte UTF-8 text echo', () => ws.send(bigText.toString()),
    text(bigText));

  const big = crypto.randomBytes(16 * MiB);
  await expectEcho(checks, inbox, '16 MiB random binary echo', () => ws.send(big), binary(big));

  try {
    if (inbox.closed) throw new Error(`the connection had already closed (code ${inbox.closed.code})`);
    const closed = closeEvent(ws);
    ws.close(1000, 'scenario done');
    const ev = await withTimeout(closed, STEP_TIMEOUT_MS, 'the close handshake');
    checks.check('close 1000 after the scenario: clean, code 1000', ev.wasClean && ev.code === 1000,
      `wasClean ${ev.wasClean}, code ${ev.code}`);
  } catch (error) {
    checks.check('close 1000 after the scenario', false, error.message);
  }

  for (const code of CLOSE_CODES) {
    const name = `close ${code}: echoed, clean`;
    try {
      const c = await withTimeout(open(url, deflateOn), STEP_TIMEOUT_MS, 'the handshake');
      const closed = closeEvent(c.ws);
      c.ws.close(code, `bye ${code}`);
      const ev = await withTimeout(closed, STEP_TIMEOUT_MS, 'the close handshake');
      const errors = c.inbox.events.filter((e) => e.kind === 'error');
      checks.check(name, ev.wasClean && ev.code === code && errors.length === 0,
        `wasClean ${ev.wasClean}, code ${ev.code}${errors.length ? `, error ${errors[0].error.message}` : ''}`);
    } catch (error) {
      checks.check(name, false, error.message);
    }
  }
  return checks.summary('node client');
}

// --- raw garbage client (against our server) ---

/** Opens TCP, optionally does a valid handshake; returns helpers to send and read to EOF. */
function rawConnect(url) {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port) });
    const received = [];
    let ended = null;
    const done = new Promise((res) => {
      socket.on('end', () => { ended ??= 'FIN'; });
      socket.on('error', (e) => { ended ??= e.code || e.message; });
      socket.on('close', () => { ended ??= 'closed'; res(); });
    });
    socket.on('data', (d) => received.push(d));
    socket.once('connect', () => resolve({
      socket,
      bytes: () => Buffer.concat(received),
      endedHow: () => ended,
      untilClosed: (what) => withTimeout(done, STEP_TIMEOUT_MS, what),
      async handshake() {
        const key = crypto.randomBytes(16).toString('base64');
        socket.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        await withTimeout(new Promise((res) => {
          const poll = () => (Buffer.concat(received).includes('\r\n\r\n') ? res() : socket.once('data', poll));
          poll();
        }), STEP_TIMEOUT_MS, 'the 101 response');
        const all = Buffer.concat(received);
        const end = all.indexOf('\r\n\r\n') + 4;
        const head = all.subarray(0, end).toString('latin1');
        received.length = 0;
        if (end < all.length) received.push(all.subarray(end));
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(head);
        if (!head.startsWith('HTTP/1.1 101') || !accept || accept[1] !== acceptKey(key)) {
          throw new Error(`bad handshake response: ${JSON.stringify(head.split('\r\n')[0])}`);
        }
      },
    }));
    socket.once('error', reject);
  });
}

async function runRawGarbage(url) {
  const checks = new Checks();
  for (const [name, c] of Object.entries(garbageCases(true))) {
    const label = `${name}: server answers close ${c.expect} and closes TCP`;
    try {
      const conn = await rawConnect(url);
      await conn.handshake();
      conn.socket.write(c.bytes());
      await conn.untilClosed('the server to close the connection');
      const { frames, rest } = parseFrames(conn.bytes());
      const close = frames.find((f) => f.opcode === 0x8);
      const code = close && close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined;
      const others = frames.filter((f) => f.opcode !== 0x8).map((f) => `opcode ${f.opcode}`);
      checks.check(label, close && !close.masked && code === c.expect && others.length === 0 && rest.length === 0,
        close ? `close code ${code}, ${close.masked ? 'masked' : 'unmasked'}, other frames [${others}], ` +
          `${rest.length} stray bytes, ended by ${conn.endedHow()}`
          : `no close frame (got ${frames.length} frames, ended by ${conn.endedHow()})`);
    } catch (error) {
      checks.check(label, false, error.message);
    }
  }
  const httpCases = {
    'non-HTTP bytes instead of a handshake': {
      bytes: Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0xfe]), Buffer.from(' garbage\r\n\r\n')]),
      statuses: [400],
    },
    'HTTP GET without an upgrade': {
      bytes: Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
      statuses: [400, 426],
    },
  };
  for (const [name, c] of Object.entries(httpCases)) {
    const label = `${name}: server answers HTTP ${c.statuses.join(' or ')} and closes`;
    try {
      const conn = await rawConnect(url);
      conn.socket.write(c.bytes);
      await conn.untilClosed('the server to close the connection');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(conn.bytes().toString('latin1'));
      checks.check(label, status && c.statuses.includes(Number(status[1])),
        `got ${JSON.stringify(conn.bytes().toString('latin1').split('\r\n')[0])}, ended by ${conn.endedHow()}`);
    } catch (error) {
      checks.check(label, false, error.message);
    }
  }
  return checks.summary('node raw garbage client');
}

// --- servers ---

function announce(port) {
  console.log(`listening on ws://127.0.0.1:${port}`);
}

function runEchoServer(deflateOn) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: deflateOn,
    maxPayload: MAX_PAYLOAD });
  wss.on('listening', () => announce(wss.address().port));
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', (e) => console.error(`ws_peer server: connection error: ${e.message}`));
  });
}

/**
 * Answers the handshake by hand (no extension), then sends the garbage of the
 * case named by the request path, all in one write. Records the client's
 * answer: its close code, "unmasked-close", "close-without-code" or "none".
 */
function runGarbageServer() {
  const cases = garbageCases(false);
  const results = new Map();  // case name -> result string
  const pending = new Set();  // promises of case connections still open
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  server.on('upgrade', (req, socket) => {
    const name = req.url.replace(/^\//, '');
    const key = req.headers['sec-websocket-key'];
    const response = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`;
    let buf = Buffer.alloc(0);
    let closeResult = null;
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const { frames, rest } = parseFrames(buf);
      buf = rest;
      for (const f of frames) {
        if (f.opcode !== 0x8 || closeResult) continue;
        if (!f.masked) closeResult = 'unmasked-close';
        else if (f.payload.length < 2) closeResult = 'close-without-code';
        else closeResult = String(f.payload.readUInt16BE(0));
        if (name === 'report') socket.end();
      }
    });
    socket.on('error', () => {});  // a reset after the close frame is the client's business
    socket.on('end', () => socket.end());  // upgrade sockets allow half-open: finish our side too
    if (name === 'report') {
      withTimeout(Promise.all(pending), 10_000, 'the case connections to end').catch(() => {}).then(() => {
        const lines = [...results].map(([n, r]) => `${n} ${r}`).join('\n');
        socket.write(Buffer.concat([Buffer.from(response, 'latin1'), frame({ opcode: 0x1, payload: lines }),
          closeFrame(1000)]));
      });
      return;
    }
    if (!(name in cases)) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    pending.add(new Promise((resolve) => socket.on('close', () => {
      results.set(name, closeResult ?? 'none');
      resolve();
    })));
    socket.write(Buffer.concat([Buffer.from(response, 'latin1'), cases[name].bytes()]));
  });
  server.listen(0, '127.0.0.1', () => announce(server.address().port));
}

// --- main ---

async function main() {
  const args = parseArgs(process.argv.slice(2));
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  if (args.mode === 'server') {
    if (args.garbage) runGarbageServer();
    else runEchoServer(args.deflate === 'on');
    return;
  }
  if (!args.url) throw new Error(`${args.mode} needs --url`);
  if (args.mode === 'client') process.exit(await runClient(args.url, args.deflate === 'on'));
  if (args.mode === 'raw-garbage') process.exit(await runRawGarbage(args.url));
  throw new Error(`unknown mode ${args.mode} (server, client, raw-garbage)`);
}

main().catch((error) => {
  console.error(`ws_peer: ${error.stack || error}`);
  process.exit(2);
});
