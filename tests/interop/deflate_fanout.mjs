// Shared permessage-deflate fan-out, checked by Node's `ws` (an independent
// inflater): `sluice serve` agrees server_no_context_takeover, compresses each
// event once and sends the same compressed frame to every deflate subscriber.
// Three deflate subscribers (ws keeps its inflate context between messages),
// one without deflate and one that limits the server's window to 10 bits
// (shared frames go to it uncompressed) all receive every event, in order,
// intact; the deflate subscribers read far fewer bytes than the plain one.
// Events of 1 KiB JSON interleave with small ones and with acks the
// connection compresses itself.
//
//   node deflate_fanout.mjs /path/to/sluice
import { spawn } from 'node:child_process';
import WebSocket from 'ws';
import { freePort, poke, until } from './waiting.mjs';

const SLUICE = process.argv[2];
if (!SLUICE) throw new Error('usage: deflate_fanout.mjs SLUICE_BINARY');
const EVENTS = 200;
let server = null;

function fail(message) {
  console.error('FAIL: ' + message);
  if (server) server.kill('SIGKILL');
  process.exit(1);
}
const overall = setTimeout(() => fail('the test did not finish within 60 s'), 60_000);

// 1 KiB of repetitive JSON (what deflate is for), or a small object.
function eventData(n) {
  if (n % 4 === 3) return { n };
  return { n, book: Array.from({ length: 24 }, (_, i) => ({ price: 100 + (i % 5), size: 10, side: 'buy' })) };
}

function subscriber(port, name, perMessageDeflate) {
  const s = { name, events: [], acks: 0, ws: new WebSocket(`ws://127.0.0.1:${port}/v1/ws`, { perMessageDeflate }) };
  s.ws.on('open', () => {
    s.ws.send(JSON.stringify({ op: 'subscribe', id: 1, topic: 'deflate.fanout' }));
    poke();
  });
  s.ws.on('message', (raw) => {
    const m = JSON.parse(raw.toString());
    if (m.type === 'ack') s.acks++;
    else if (m.type === 'event') s.events.push(m.event);
    else fail(`${name}: unexpected message ${raw}`);
    poke();
  });
  s.ws.on('error', (e) => fail(`${name}: ${e.message}`));
  s.ws.on('close', poke);
  return s;
}

async function main() {
  const port = await freePort();
  let log = '';
  server = spawn(SLUICE, ['serve', '--port', String(port), '--threads', '2', '--store', 'memory'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.on('data', (d) => { log += d; poke(); });
  server.stderr.on('data', (d) => { log += d; poke(); });
  await until('the server to listen', () => log.includes('listening on'));

  const subs = [
    subscriber(port, 'deflate-1', true),
    subscriber(port, 'deflate-2', true),
    subscriber(port, 'deflate-3', { clientNoContextTakeover: true }),
    subscriber(port, 'plain', false),
    subscriber(port, 'window-10', { serverMaxWindowBits: 10 }),
  ];
  await until('every subscription acknowledged', () => subs.every((s) => s.acks === 1));
  // What the server's handshake response agreed (ws keeps it per extension).
  const agreed = (s) => s.ws._extensions['permessage-deflate']?.params;
  for (const s of subs.slice(0, 3)) {
    if (!agreed(s)?.server_no_context_takeover) fail(`${s.name}: agreed ${JSON.stringify(agreed(s))}`);
  }
  if (agreed(subs[3])) fail('plain: deflate was agreed');
  if (agreed(subs[4])?.server_max_window_bits !== 10) fail(`window-10: agreed ${JSON.stringify(agreed(subs[4]))}`);

  // Publish over /v1/ws from a deflate connection too: its acks are the
  // connection's own compressed messages, between the shared ones.
  const publisher = subscriber(port, 'publisher', true);
  await until('the publisher subscribed', () => publisher.acks === 1);
  for (let n = 0; n < EVENTS; n++) {
    publisher.ws.send(JSON.stringify({ op: 'publish', id: 100 + n, topic: 'deflate.fanout', data: eventData(n) }));
  }
  subs.push(publisher);
  await until('every event everywhere', () => subs.every((s) => s.events.length >= EVENTS));
  for (const s of subs) {
    if (s.events.length !== EVENTS) fail(`${s.name}: ${s.events.length} events`);
    s.events.forEach((e, i) => {
      if (e.offset !== i + 1) fail(`${s.name}: event ${i} has offset ${e.offset}`);
      if (JSON.stringify(e.data) !== JSON.stringify(eventData(i))) fail(`${s.name}: event ${i} data ${JSON.stringify(e.data)}`);
    });
  }
  await until('every publish acknowledged', () => publisher.acks === 1 + EVENTS);
  const read = Object.fromEntries(subs.map((s) => [s.name, s.ws._socket.bytesRead]));
  console.log('bytes read per subscriber:', JSON.stringify(read));
  for (const name of ['deflate-1', 'deflate-2', 'deflate-3']) {
    if (read[name] * 3 > read.plain) fail(`${name} read ${read[name]} bytes, plain ${read.plain}: not compressed`);
  }
  if (read['window-10'] < read.plain * 0.9) fail('window-10 got compressed frames it could not be sent');

  for (const s of subs) s.ws.close(1000);
  await until('every client closed', () => subs.every((s) => s.ws.readyState === WebSocket.CLOSED));
  server.kill('SIGTERM');
  clearTimeout(overall);
  console.log(`PASS: ${EVENTS} events to ${subs.length} subscribers, shared deflate frames decoded by ws`);
}

main().catch((e) => fail(e.stack || e.message));
