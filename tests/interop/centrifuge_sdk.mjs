// The official Centrifugo JavaScript SDK (npm `centrifuge`, with `ws` as its
// WebSocket) against a real `sluice serve` on /connection/websocket:
// connect, subscribe, publish both ways (SDK <-> POST /v1/events, /v1/ws and
// Centrifugo's POST /api/publish, same offsets), history (and /api/history),
// 108 for presence, a client that stops ponging closed with 3012, 1,000
// events received exactly once and in order through a server restart
// (durable store, close 3001) by the SDK's own recovery, and a client that
// stops reading closed with 3008 that then recovers every event; with
// connection tokens: 3500 for an invalid one, 109 and the SDK's getToken for
// an expired one, 103 for a channel the token does not list; connection and
// subscription tokens of 2 s that the SDK keeps refreshing (refresh,
// sub_refresh), so both outlive them. Every wait is bounded.
//
//   node centrifuge_sdk.mjs /path/to/sluice
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Centrifuge } from 'centrifuge';
import WebSocket from 'ws';
import { freePort, poke, until } from './waiting.mjs';

const SLUICE = process.argv[2];
if (!SLUICE) throw new Error('usage: centrifuge_sdk.mjs SLUICE_BINARY');
const TOTAL = 1000;
const dataDir = mkdtempSync(join(tmpdir(), 'sluice-centrifuge-'));
let server = null;

function fail(message) {
  console.error('FAIL: ' + message);
  if (server) server.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(1);
}
const overall = setTimeout(() => fail('the test did not finish within 130 s'), 130_000);

async function startServer(port, extra = ['--store', 'sqlite', '--data-dir', dataDir],
  pings = ['--ping-interval', '2', '--pong-timeout', '1']) {
  let log = '';
  const child = spawn(SLUICE, ['serve', '--port', String(port), '--threads', '2', ...pings, ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d) => { log += d; poke(); });
  child.stderr.on('data', (d) => { log += d; poke(); });
  child.on('exit', () => poke());
  server = child;
  await until('the server to listen', () => log.includes('listening on'), 20_000);
  return child;
}

async function stopServer(child) {
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  const { code } = await Promise.race([exited, new Promise((r) => setTimeout(() => r({ code: 'timeout' }), 20_000))]);
  if (code !== 0) fail('the server did not exit 0 on SIGTERM: ' + code);
}

async function httpPublish(port, topic, data) {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v1/events`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ topic, data }),
      });
      if (res.status === 201) return await res.json();
      if (attempt > 200) fail('POST /v1/events answered ' + res.status + ': ' + await res.text());
    } catch (e) {
      if (attempt > 200) fail('POST /v1/events failed: ' + e.message);
    }
    await new Promise((r) => setTimeout(r, 25));  // the server is restarting: retry
  }
}

function check(condition, message) { if (!condition) fail(message); }

// Centrifugo's server API (POST /api/<method>): the parsed answer, HTTP 200 expected.
async function apiCall(port, method, params) {
  const res = await fetch(`http://127.0.0.1:${port}/api/${method}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(params),
  });
  const text = await res.text();
  if (res.status !== 200) fail(`/api/${method} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

async function main() {
  const port = await freePort();
  await startServer(port);
  const url = `ws://127.0.0.1:${port}/connection/websocket`;

  // The subprotocol is accepted when offered.
  {
    const ws = new WebSocket(url, 'centrifuge-json');
    await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
    check(ws.protocol === 'centrifuge-json', 'subprotocol not selected: ' + ws.protocol);
    ws.close();
  }

  // A client that never answers pings is closed with 3012 "no pong".
  {
    const ws = new WebSocket(url);
    let closed = null;
    let connectReply = null;
    ws.on('message', (d) => { const line = JSON.parse(String(d).split('\n')[0]); if (line.id === 1) connectReply = line; poke(); });
    ws.on('close', (code) => { closed = code; poke(); });
    await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
    ws.send(JSON.stringify({ id: 1, connect: {} }));
    await until('the connect reply', () => connectReply !== null);
    check(connectReply.connect && connectReply.connect.ping === 2 && connectReply.connect.pong === true,
      'connect reply: ' + JSON.stringify(connectReply));
    await until('the no-pong close', () => closed !== null, 10_000);
    check(closed === 3012, 'a client that does not pong was closed with ' + closed + ', not 3012');
  }

  const client = new Centrifuge(url, { websocket: WebSocket, minReconnectDelay: 100, maxReconnectDelay: 400 });
  const connecting = [];
  let connectedCount = 0;
  const clientIds = [];
  client.on('connecting', (ctx) => { connecting.push(ctx); poke(); });
  client.on('connected', (ctx) => { connectedCount++; clientIds.push(ctx.client); poke(); });
  client.on('error', (ctx) => console.log('client error', JSON.stringify(ctx)));
  client.connect();
  await until('connected', () => connectedCount === 1);
  // The connect reply's client id: a version 4 UUID, a new one per connection.
  const uuid4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  check(uuid4.test(clientIds[0]), 'client id is not a version 4 UUID: ' + clientIds[0]);

  // Subscribe; publish from the SDK, from HTTP, and from /v1/ws.
  const chat = client.newSubscription('chat:index');
  const chatPubs = [];
  chat.on('publication', (ctx) => { chatPubs.push(ctx); poke(); });
  let chatSubscribed = null;
  chat.on('subscribed', (ctx) => { chatSubscribed = ctx; poke(); });
  chat.subscribe();
  await until('subscribed to chat:index', () => chatSubscribed !== null);

  const v1 = new WebSocket(`ws://127.0.0.1:${port}/v1/ws`);
  const v1Events = [];
  let v1Acked = false;
  v1.on('message', (d) => {
    const m = JSON.parse(String(d));
    if (m.type === 'event') v1Events.push(m.event);
    if (m.type === 'ack' && m.op === 'subscribe') v1Acked = true;
    poke();
  });
  await new Promise((resolve, reject) => { v1.on('open', resolve); v1.on('error', reject); });
  v1.send(JSON.stringify({ op: 'subscribe', id: 1, topic: 'chat:index' }));
  await until('the /v1/ws subscribe ack', () => v1Acked);

  await client.publish('chat:index', { from: 'sdk', text: 'hello' });
  await until('the SDK publication back', () => chatPubs.length === 1);
  await until('the SDK publication on /v1/ws', () => v1Events.length === 1);
  check(chatPubs[0].data.from === 'sdk' && chatPubs[0].offset === v1Events[0].offset,
    'SDK publication: ' + JSON.stringify(chatPubs[0]) + ' vs /v1/ws ' + JSON.stringify(v1Events[0]));

  const posted = await httpPublish(port, 'chat:index', { from: 'http', n: 2 });
  await until('the HTTP publication on the SDK', () => chatPubs.length === 2);
  check(chatPubs[1].data.from === 'http' && chatPubs[1].offset === posted.offset,
    'HTTP publication: ' + JSON.stringify(chatPubs[1]) + ' vs ' + JSON.stringify(posted));

  v1.send(JSON.stringify({ op: 'publish', id: 2, topic: 'chat:index', data: { from: 'v1ws' } }));
  await until('the /v1/ws publication on the SDK', () => chatPubs.length === 3);
  await until('the /v1/ws publication echoed', () => v1Events.length === 3);
  check(chatPubs[2].data.from === 'v1ws' && chatPubs[2].offset === v1Events[2].offset, '/v1/ws publication offsets differ');

  // Centrifugo's server API: POST /api/publish answers {"result":{offset, epoch}}; the SDK gets it.
  const api = await apiCall(port, 'publish', { channel: 'chat:index', data: { from: 'api' } });
  check(api.result && api.result.offset === chatPubs[2].offset + 1 && api.result.epoch === posted.epoch,
    '/api/publish: ' + JSON.stringify(api));
  await until('the /api/publish publication on the SDK', () => chatPubs.length === 4);
  await until('the /api/publish publication on /v1/ws', () => v1Events.length === 4);
  check(chatPubs[3].data.from === 'api' && chatPubs[3].offset === api.result.offset &&
    v1Events[3].offset === api.result.offset, '/api/publish publication: ' + JSON.stringify(chatPubs[3]));
  v1.close();

  // History: forward, since, reverse; the epoch is the topic's; /api/history answers the same.
  const all = await client.history('chat:index', { limit: -1 });
  check(all.publications.length === 4 && all.offset === chatPubs[3].offset && all.epoch === posted.epoch,
    'history: ' + JSON.stringify(all));
  const apiHistory = await apiCall(port, 'history', { channel: 'chat:index', limit: -1 });
  check(JSON.stringify(apiHistory.result) === JSON.stringify({ publications: all.publications.map((p) => ({ data: p.data, offset: p.offset })), epoch: all.epoch, offset: all.offset }),
    '/api/history: ' + JSON.stringify(apiHistory) + ' vs ' + JSON.stringify(all));
  const since = await client.history('chat:index', { limit: 10, since: { offset: chatPubs[0].offset, epoch: all.epoch } });
  check(since.publications.length === 3 && since.publications[0].data.from === 'http', 'history since: ' + JSON.stringify(since));
  const latest = await client.history('chat:index', { limit: 1, reverse: true });
  check(latest.publications.length === 1 && latest.publications[0].data.from === 'api', 'history reverse: ' + JSON.stringify(latest));

  // Presence is not offered: 108.
  for (const call of [() => client.presence('chat:index'), () => client.presenceStats('chat:index'), () => client.rpc('m', {})]) {
    let code = null;
    try { await call(); } catch (e) { code = e.code; }
    check(code === 108, 'presence/rpc answered ' + code + ', not 108');
  }

  // 1,000 events through a server restart, each once and in order.
  const bulk = client.newSubscription('bulk.feed');
  const got = [];
  const subscribedCtx = [];
  bulk.on('publication', (ctx) => { got.push(ctx); poke(); });
  bulk.on('subscribed', (ctx) => { subscribedCtx.push(ctx); poke(); });
  bulk.subscribe();
  await until('subscribed to bulk.feed', () => subscribedCtx.length === 1);
  let child = server;
  for (let n = 0; n < TOTAL; n++) {
    if (n === 400) {
      await stopServer(child);
      child = await startServer(port);
    }
    await httpPublish(port, 'bulk.feed', { n });
  }
  await until('all 1,000 events', () => got.length >= TOTAL, 30_000);
  await new Promise((r) => setTimeout(r, 300));  // a duplicate would arrive right behind the last
  check(got.length === TOTAL, `received ${got.length} events, not ${TOTAL}`);
  for (let i = 0; i < TOTAL; i++) {
    check(got[i].data.n === i, `event ${i} is ${JSON.stringify(got[i].data)}`);
    if (i > 0) check(got[i].offset === got[i - 1].offset + 1, `offset gap at ${i}`);
  }
  check(connecting.some((c) => c.code === 3001), 'no reconnect with 3001 shutdown was seen: ' + JSON.stringify(connecting));
  check(subscribedCtx.length >= 2 && subscribedCtx.slice(1).every((c) => c.wasRecovering && c.recovered),
    'resubscribe did not recover: ' + JSON.stringify(subscribedCtx));

  client.disconnect();
  await stopServer(child);
  await slowConsumerScenario();
  await authScenario();
  clearTimeout(overall);
  rmSync(dataDir, { recursive: true, force: true });
  check(clientIds.length > 1 && clientIds.every((id) => uuid4.test(id)) && new Set(clientIds).size === clientIds.length,
        'client ids over the reconnects are not distinct version 4 UUIDs: ' + JSON.stringify(clientIds));
  console.log(`OK: connect, subscribe, publish both ways and from /api/publish, history (and /api/history), 108, no-pong 3012, ${TOTAL} events through a restart, a slow consumer closed with 3008 recovering every event, tokens (3500, 109 + getToken, 103)`);
}

// Bytes of the connection between client port `a` and server port `b` that
// sit in the kernel: the client's receive queue and the server's send queue
// (Linux /proc/net/tcp, loopback IPv4).
function kernelQueued(a, b) {
  let total = 0;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const local = parseInt(f[1].split(':')[1], 16);
    const remote = parseInt(f[2].split(':')[1], 16);
    const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
    if (local === a && remote === b) total += rx;
    if (local === b && remote === a) total += tx;
  }
  return total;
}

// A client that stops reading: once the kernel's buffers are full, the
// server's send queue (1 MiB here) overflows and the server closes with 3008;
// when the client reads again it gets what was buffered, then the close, and
// the SDK reconnects and recovers the rest from history: every event once, in order.
async function slowConsumerScenario() {
  const port = await freePort();
  const queueLimit = 1 << 20;
  const child = await startServer(port, ['--store', 'memory', '--send-queue-limit', String(queueLimit),
    '--history-max-bytes', String(256 << 20), '--history-max-events', '100000'],
  ['--ping-interval', '60', '--pong-timeout', '30']);  // no pings while the client is stalled
  const sockets = [];
  // Without permessage-deflate: the padding below counts as written (compressed,
  // 1.25 queues of 'x' would be a few KiB).
  class TrackedWebSocket extends WebSocket {
    constructor(url, protocols) { super(url, protocols, { perMessageDeflate: false }); sockets.push(this); }
  }
  const c = new Centrifuge(`ws://127.0.0.1:${port}/connection/websocket`,
    { websocket: TrackedWebSocket, minReconnectDelay: 100, maxReconnectDelay: 400 });
  const connecting = [];
  let connected = 0;
  c.on('connecting', (ctx) => { connecting.push(ctx); poke(); });
  c.on('connected', () => { connected++; poke(); });
  c.connect();
  await until('connected (slow consumer)', () => connected === 1);
  const sub = c.newSubscription('slow.feed');
  const got = [];
  const subscribed = [];
  sub.on('publication', (ctx) => { got.push(ctx); poke(); });
  sub.on('subscribed', (ctx) => { subscribed.push(ctx); poke(); });
  sub.subscribe();
  await until('subscribed (slow consumer)', () => subscribed.length === 1);

  const ws = sockets[sockets.length - 1];
  const clientPort = ws._socket.localPort;
  ws._socket.pause();  // stops reading: TCP's window closes, then the server's queue grows
  const pad = 'x'.repeat(16 * 1024);
  let n = 0;
  const publish = async (count) => {
    for (let i = 0; i < count; i++, n++) {
      const r = await apiCall(port, 'publish', { channel: 'slow.feed', data: { n, pad } });
      check(r.result && r.result.offset === n + 1, '/api/publish: ' + JSON.stringify(r));
    }
  };
  // Fill the kernel's buffers: 128 KiB at a time until they take no more (twice).
  let last = -1;
  let still = 0;
  // The kernel's count once the round's fan-out has reached the socket: the
  // same for 3 reads 50 ms apart (slow builds, e.g. under TSan, take longer).
  const settled = async () => {
    let value = kernelQueued(clientPort, port);
    for (let same = 0, i = 0; same < 3 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 50));
      const next = kernelQueued(clientPort, port);
      same = next === value ? same + 1 : 0;
      value = next;
    }
    return value;
  };
  for (let round = 0; round < 400 && still < 2; round++) {
    await publish(8);
    const queued = await settled();
    still = queued - last < 16 * 1024 ? still + 1 : 0;
    last = queued;
  }
  check(still >= 2, 'the kernel buffers of a stalled client never filled up');
  // 1.25 queues more overflow the server's send queue: close 3008.
  await publish(Math.ceil(1.25 * queueLimit / pad.length));
  const total = n;
  ws._socket.resume();
  await until(`all ${total} events after the slow-consumer close`, () => got.length >= total, 30_000).catch((e) => {
    fail(e.message + `: got ${got.length}, last ${got.length ? got[got.length - 1].offset : 0}; connecting ` +
      JSON.stringify(connecting) + '; subscribed ' + JSON.stringify(subscribed.map((x) => [x.wasRecovering, x.recovered])));
  });
  await new Promise((r) => setTimeout(r, 300));  // a duplicate would arrive right behind the last
  check(connecting.some((x) => x.code === 3008), 'no reconnect after a 3008 close: ' + JSON.stringify(connecting));
  check(subscribed.length >= 2 && subscribed.slice(1).every((x) => x.wasRecovering && x.recovered),
    'the slow consumer did not recover: ' + JSON.stringify(subscribed.map((x) => ({ wasRecovering: x.wasRecovering, recovered: x.recovered }))));
  check(got.length === total, `slow consumer: received ${got.length} events, not ${total}`);
  for (let i = 0; i < total; i++) {
    check(got[i].data.n === i && got[i].offset === i + 1, `slow consumer: event ${i} is ${got[i].data.n} at offset ${got[i].offset}`);
  }
  c.disconnect();
  await stopServer(child);
}

// Connection tokens (sluice token; HS256): the connect command's token.
async function authScenario() {
  const secret = join(dataDir, 'jwt.secret');
  writeFileSync(secret, 'centrifuge-interop-secret-0123456789abcdef\n');
  const token = (ttl) => {
    const out = spawnSync(SLUICE, ['token', '--jwt-secret-file', secret, '--sub', 'alice', '--channel', 'room:ok',
      '--ttl', ttl], { encoding: 'utf8' });
    check(out.status === 0, 'sluice token failed: ' + out.stderr);
    return out.stdout.trim().split('\n').pop();
  };
  const port = await freePort();
  const child = await startServer(port, ['--store', 'memory', '--jwt-secret-file', secret, '--expired-close-delay', '1']);
  const url = `ws://127.0.0.1:${port}/connection/websocket`;

  // An invalid token: closed with 3500, and the SDK does not reconnect.
  {
    const c = new Centrifuge(url, { websocket: WebSocket, token: 'not-a-valid-token' });
    let disconnected = null;
    c.on('disconnected', (ctx) => { disconnected = ctx; poke(); });
    c.connect();
    await until('the invalid-token disconnect', () => disconnected !== null);
    check(disconnected.code === 3500, 'invalid token: ' + JSON.stringify(disconnected));
  }

  // An expired token: error 109, the SDK asks getToken for a new one and connects.
  const expired = token('1s');
  await new Promise((r) => setTimeout(r, 2200));  // past its exp (whole seconds)
  let fetched = 0;
  const c = new Centrifuge(url, {
    websocket: WebSocket, token: expired, minReconnectDelay: 100, maxReconnectDelay: 400,
    getToken: async () => { fetched++; return token('1h'); },
  });
  let connected = false;
  c.on('connected', () => { connected = true; poke(); });
  c.connect();
  await until('connected with a refreshed token', () => connected);
  check(fetched >= 1, 'getToken was not called for an expired token');

  // The channels claim: room:ok is allowed, room:no is 103.
  const ok = c.newSubscription('room:ok');
  let okSubscribed = false;
  ok.on('subscribed', () => { okSubscribed = true; poke(); });
  ok.subscribe();
  await until('subscribed to an allowed channel', () => okSubscribed);
  const no = c.newSubscription('room:no');
  let refused = null;
  no.on('error', (ctx) => { if (ctx.error) refused = ctx.error.code; poke(); });
  no.on('unsubscribed', (ctx) => { if (refused === null) refused = ctx.code; poke(); });
  no.subscribe();
  await until('the refused subscription', () => refused !== null);
  check(refused === 103, 'a channel the token does not list: ' + refused + ', not 103');

  c.disconnect();

  // Connection and subscription tokens of 2 s (sluice token, with
  // --subscription-channel for the latter): the SDK sends refresh and
  // sub_refresh with new ones each time the announced ttl runs out. By the
  // fifth of each the first has been over for more than a second (the server
  // closes a connection at its token's exp plus 1 s here, 3005, and ends a
  // subscription with 2501), yet neither ever left its state.
  let connectionTokens = 0;
  const connectionStates = [];
  const short = new Centrifuge(url, {
    websocket: WebSocket,
    getToken: async () => { connectionTokens++; poke(); return token('2s'); },
  });
  for (const state of ['connecting', 'connected', 'disconnected']) {
    short.on(state, (ctx) => { connectionStates.push(state + (ctx.code !== undefined ? ':' + ctx.code : '')); poke(); });
  }
  short.connect();
  let subTokens = 0;
  const states = [];
  const vip = short.newSubscription('room:vip', {
    getToken: async () => {
      subTokens++;
      poke();
      const out = spawnSync(SLUICE, ['token', '--jwt-secret-file', secret, '--sub', 'alice',
        '--subscription-channel', 'room:vip', '--ttl', '2s'], { encoding: 'utf8' });
      check(out.status === 0, 'sluice token --subscription-channel failed: ' + out.stderr);
      return out.stdout.trim();
    },
  });
  for (const state of ['subscribing', 'subscribed', 'unsubscribed']) {
    vip.on(state, (ctx) => { states.push(state + (ctx.code !== undefined ? ':' + ctx.code : '')); poke(); });
  }
  vip.on('error', (ctx) => { states.push('error:' + ctx.type + ':' + (ctx.error && ctx.error.code)); poke(); });
  vip.subscribe();
  await until('five tokens of each kind (four refresh, four sub_refresh)',
    () => subTokens >= 5 && connectionTokens >= 5, 20_000);
  check(states.filter((s) => s.startsWith('subscribed')).length === 1 &&
    !states.some((s) => s.startsWith('unsubscribed') || s.startsWith('error') || s === 'subscribing:2501'),
    'the refreshed subscription did not stay subscribed: ' + JSON.stringify(states));
  check(vip.state === 'subscribed', 'subscription state: ' + vip.state);
  check(connectionStates.filter((s) => s.startsWith('connected')).length === 1 &&
    !connectionStates.some((s) => s.startsWith('disconnected')) && short.state === 'connected',
    'the refreshed connection did not stay connected: ' + JSON.stringify(connectionStates));
  short.disconnect();
  await stopServer(child);
}

main().catch((e) => fail(e.stack || String(e)));
