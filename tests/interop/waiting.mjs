// Bounded waiting for the Node interop tests: until() resolves when its
// predicate holds, checked whenever something calls poke() (every message,
// log line or exit); it rejects after `ms`. freePort() finds a loopback port.
import { createServer } from 'node:net';

const waiters = new Set();

export function poke() {
  for (const w of [...waiters]) if (w.predicate()) { waiters.delete(w); clearTimeout(w.timer); w.resolve(); }
}

export function until(what, predicate, ms = 15_000) {
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve();
    const w = { predicate, resolve };
    w.timer = setTimeout(() => { waiters.delete(w); reject(new Error('timed out waiting for ' + what)); }, ms);
    waiters.add(w);
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
    s.on('error', reject);
  });
}
