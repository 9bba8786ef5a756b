#!/usr/bin/env node
// A stand-in for Autobahn|Testsuite's fuzzingserver, small enough to run in
// CTest: the same URL convention (/getCaseCount, /runCase?case=N&agent=A,
// /updateReports?agent=A) with a handful of echo cases whose results it checks.
//
//   node fake_fuzzingserver.mjs --agent NAME [--expect-deflate yes|no] [--timeout SECONDS]
//
// Prints "listening on ws://127.0.0.1:PORT" first. On /updateReports it prints
// one line per case and exits 0 only if the case count was asked for and every
// case ran once, passed, and came from the expected agent (as did the report
// request). Exits 1 if that has not happened within --timeout seconds.
import crypto from 'node:crypto';
import { WebSocketServer } from 'ws';

const CASE_TIMEOUT_MS = 20_000;

function parseArgs(argv) {
  const args = { agent: null, expectDeflate: 'yes', timeout: 90 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--agent') args.agent = argv[++i];
    else if (argv[i] === '--expect-deflate') args.expectDeflate = argv[++i];
    else if (argv[i] === '--timeout') args.timeout = Number(argv[++i]);
    else throw new Error(`unknown argument ${argv[i]}`);
  }
  if (!args.agent) throw new Error('--agent is required');
  if (!['yes', 'no'].includes(args.expectDeflate)) throw new Error('--expect-deflate takes yes or no');
  return args;
}

/** Waits for the next message or pong of one connection, in order. */
class Inbox {
  constructor(ws) {
    this.events = [];
    this.waiters = [];
    ws.on('message', (data, isBinary) => this.push({ kind: 'message', data, isBinary }));
    ws.on('pong', (data) => this.push({ kind: 'pong', data }));
    ws.on('close', (code) => this.push({ kind: 'close', code }));
  }
  push(event) {
    const w = this.waiters.shift();
    if (w) w(event);
    else this.events.push(event);
  }
  next() {
    if (this.events.length) return Promise.resolve(this.events.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
      this.waiters.push((e) => { clearTimeout(timer); resolve(e); });
    });
  }
}

function describe(e) {
  if (e.kind === 'message') return `${e.isBinary ? 'binary' : 'text'} message of ${e.data.length} bytes`;
  if (e.kind === 'close') return `close ${e.code}`;
  return `${e.kind} of ${e.data.length} bytes`;
}

/** Throws unless `got` is a message (or pong) equal to `want`. */
function expectEvent(got, want) {
  if (got.kind !== want.kind || (want.kind === 'message' && got.isBinary !== want.isBinary)) {
    throw new Error(`got ${describe(got)}, expected ${describe(want)}`);
  }
  if (Buffer.compare(got.data, want.data) !== 0) {
    throw new Error(`${describe(got)} differs from the ${want.data.length} bytes sent`);
  }
}

const text = (s) => ({ kind: 'message', isBinary: false, data: Buffer.from(s) });

// Each case sends something to the testee and checks what comes back.
const CASES = [
  {
    name: 'text message echo',
    async run({ ws, inbox }) {
      const s = 'Hello, fuzzing ✓';
      ws.send(s);
      expectEvent(await inbox.next(), text(s));
    },
  },
  {
    name: 'binary message echo',
    async run({ ws, inbox }) {
      const b = crypto.randomBytes(1000);
      ws.send(b, { binary: true });
      expectEvent(await inbox.next(), { kind: 'message', isBinary: true, data: b });
    },
  },
  {
    name: 'fragmented text message (3 frames) echoed as one',
    async run({ ws, inbox }) {
      const parts = ['fragment one, ', 'fragment ✓ two, ', 'fragment three'];
      parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === parts.length - 1, compress: false }));
      expectEvent(await inbox.next(), text(parts.join('')));
    },
  },
  {
    name: 'ping answered by a pong with the same payload',
    async run({ ws, inbox }) {
      const payload = crypto.randomBytes(32);
      ws.ping(payload);
      expectEvent(await inbox.next(), { kind: 'pong', data: payload });
    },
  },
  {
    name: '64 KiB compressible text echo (compressed on the wire when deflate is on)',
    async run({ ws, inbox, socket, deflate }) {
      const line = 'All work and no play makes Jack a dull boy. ';
      const s = line.repeat(Math.ceil(65536 / line.length)).slice(0, 65536);
      const before = socket.bytesRead;
      ws.send(s);
      expectEvent(await inbox.next(), text(s));
      const wire = socket.bytesRead - before;
      if (deflate && wire >= 16384) throw new Error(`echo took ${wire} bytes on the wire: not compressed`);
      if (!deflate && wire < 65536) throw new Error(`echo took only ${wire} bytes without deflate`);
    },
  },
];

function main() {
  const args = parseArgs(process.argv.slice(2));
  const expectDeflate = args.expectDeflate === 'yes';
  const results = new Map();  // case number -> [{agent, ok, detail}]
  let caseCountAsked = false;

  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: true });
  wss.on('listening', () => console.log(`listening on ws://127.0.0.1:${wss.address().port}`));
  const deadline = setTimeout(() => {
    console.log(`fake fuzzingserver: no /updateReports within ${args.timeout} s`);
    process.exit(1);
  }, args.timeout * 1000);

  wss.on('connection', (ws, req) => {
    const url = new URL(req.url, 'ws://localhost');
    const agent = url.searchParams.get('agent');
    ws.on('error', (e) => console.log(`fake fuzzingserver: ${url.pathname}: ${e.message}`));

    if (url.pathname === '/getCaseCount') {
      caseCountAsked = true;
      ws.send(String(CASES.length));
      ws.close(1000);
    } else if (url.pathname === '/runCase') {
      const n = Number(url.searchParams.get('case'));
      const inbox = new Inbox(ws);
      const record = (ok, detail) => {
        if (!results.has(n)) results.set(n, []);
        results.get(n).push({ agent, ok, detail });
      };
      if (!(n >= 1 && n <= CASES.length)) {
        record(false, `no case ${url.searchParams.get('case')}`);
        ws.close(1000);
        return;
      }
      const deflate = ws.extensions.includes('permessage-deflate');
      (async () => {
        if (deflate !== expectDeflate) {
          throw new Error(`permessage-deflate ${deflate ? '' : 'not '}negotiated ` +
            `(extensions "${ws.extensions}")`);
        }
        await CASES[n - 1].run({ ws, inbox, socket: req.socket, deflate });
        // The testee must answer our close with a close (a clean close handshake).
        const closed = new Promise((resolve) => ws.addEventListener('close', resolve, { once: true }));
        ws.close(1000);
        const ev = await Promise.race([closed,
          new Promise((_, reject) => setTimeout(() => reject(new Error('no close answer')), CASE_TIMEOUT_MS))]);
        if (!ev.wasClean || ev.code !== 1000) throw new Error(`close not clean: code ${ev.code}`);
      })().then(() => record(true, ''), (e) => {
        record(false, e.message);
        ws.terminate();
      });
    } else if (url.pathname === '/updateReports') {
      const lines = [];
      let passed = 0;
      CASES.forEach((c, i) => {
        const runs = results.get(i + 1) ?? [];
        const problems = [];
        if (runs.length !== 1) problems.push(`ran ${runs.length} times`);
        for (const r of runs) {
          if (!r.ok) problems.push(r.detail);
          if (r.agent !== args.agent) problems.push(`agent "${r.agent}", expected "${args.agent}"`);
        }
        if (problems.length === 0) passed++;
        lines.push(`${problems.length ? 'FAIL' : 'PASS'} case ${i + 1} (${c.name})` +
          `${problems.length ? `: ${problems.join('; ')}` : ''}`);
      });
      const general = [];
      if (!caseCountAsked) general.push('the case count was never asked for');
      if (agent !== args.agent) general.push(`report asked for agent "${agent}", expected "${args.agent}"`);
      for (const g of general) lines.push(`FAIL ${g}`);
      const failed = CASES.length - passed + general.length;
      lines.push(`fake fuzzingserver: ${passed} passed, ${failed} failed`);
      console.log(lines.join('\n'));
      ws.on('close', () => {
        clearTimeout(deadline);
        process.exit(failed === 0 ? 0 : 1);
      });
      ws.close(1000);
    } else {
      ws.close(1008, 'unknown path');
    }
  });
}

process.on('SIGTERM', () => process.exit(1));
main();
