// A fast webhook receiver for bench/webhook/webhook_bench.py: Node's http
// server with keep-alive, answers every POST with 204 and counts requests per
// path. Prints "listening PORT" once it accepts; GET /count returns the total
// as text. Loopback only; no dependencies.
import http from "node:http";

let total = 0;
const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  if (req.method === "GET" && req.url === "/count") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(String(total));
    return;
  }
  req.resume();
  req.on("end", () => {
    total += 1;
    res.writeHead(204);
    res.end();
  });
});
server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  console.log(`listening ${server.address().port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
