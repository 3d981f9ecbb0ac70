// Starts @vercel/cosmosdb-server (installed by `npm ci`) on 127.0.0.1 with keep-alive.
// Its own CLI answers every request with "connection: close", so each request pays a TLS handshake
// (~25 ms here instead of ~1 ms); createHttpsServer({ keepAlive: true }) is the package's public API for this.
// Usage: node cosmosdb_server.js --host 127.0.0.1 --port PORT [--home DIR]  (--home only marks whose server it is)
"use strict";

const { createHttpsServer } = require("@vercel/cosmosdb-server");

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const index = args.indexOf(name);
  return index >= 0 && index + 1 < args.length ? args[index + 1] : fallback;
};
const host = option("--host", "127.0.0.1");
const port = parseInt(option("--port", "0"), 10);

const server = createHttpsServer({ keepAlive: true });
server.on("error", (error) => {
  console.error(`cosmosdb-server failed: ${error.code || ""} ${error.message}`);
  process.exit(1);
});
server.listen(port, host, () => {
  const address = server.address();
  console.log(`Ready to accept HTTPS connections at ${address.address}:${address.port}`);
});
// Everything lives in memory and is lost on exit anyway: stop at once, without waiting for idle keep-alive clients.
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
