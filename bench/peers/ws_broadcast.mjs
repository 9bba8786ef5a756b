// A broadcast (or echo) WebSocket server on Node's ws, a peer Sluice is
// compared with in docs/benchmarks.md. Written after ws's README ("Server
// broadcast": every other open client gets the message) with ws's defaults
// (no permessage-deflate, client tracking on). --deflate on: perMessageDeflate
// with ws's defaults (each client compresses what it sends, in zlib's thread
// pool; messages under 1 KiB are sent uncompressed).
//
//   node ws_broadcast.mjs [--mode broadcast|echo] [--address 127.0.0.1] [--port 9004] [--deflate on|off]
//
// Prints "listening on ws://ADDRESS:PORT" once it accepts connections.
import { WebSocketServer, WebSocket } from 'ws';

// A subscriber more than this far behind is closed, as Sluice's default
// send-queue limit would (the README's broadcast does not bound it).
const MAX_BUFFERED_BYTES = 1024 * 1024;

const options = { mode: 'broadcast', address: '127.0.0.1', port: '9004', deflate: 'off' };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i += 2) {
  const key = args[i].replace(/^--/, '');
  if (!(key in options) || i + 1 >= args.length) {
    console.error('usage: node ws_broadcast.mjs [--mode broadcast|echo] [--address A] [--port P] [--deflate on|off]');
    process.exit(2);
  }
  options[key] = args[i + 1];
}
if (options.mode !== 'broadcast' && options.mode !== 'echo') {
  console.error('ws_broadcast: --mode is broadcast or echo');
  process.exit(2);
}
if (options.deflate !== 'on' && options.deflate !== 'off') {
  console.error('ws_broadcast: --deflate is on or off');
  process.exit(2);
}

const wss = new WebSocketServer({
  host: options.address,
  port: Number(options.port),
  backlog: 4096,
  perMessageDeflate: options.deflate === 'on',
});

wss.on('connection', (ws) => {
  ws.on('error', () => {});  // resets are normal when the load client exits
  if (options.mode === 'echo') {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    return;
  }
  ws.on('message', (data, isBinary) => {
    for (const client of wss.clients) {
      if (client === ws || client.readyState !== WebSocket.OPEN) continue;
      if (client.bufferedAmount > MAX_BUFFERED_BYTES) {
        client.terminate();  // slow consumer
        continue;
      }
      client.send(data, { binary: isBinary });
    }
  });
});

wss.on('listening', () => {
  const deflate = options.deflate === 'on' ? ', permessage-deflate' : '';
  console.log(`listening on ws://${options.address}:${wss.address().port} (${options.mode}${deflate})`);
});
wss.on('error', (error) => {
  console.error(`ws_broadcast: ${error.message}`);
  process.exit(1);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
