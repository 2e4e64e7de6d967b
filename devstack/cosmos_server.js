#!/usr/bin/env node
// The local Cosmos DB API server (@vercel/cosmosdb-server) with keep-alive connections.
// Its CLI always answers `connection: close`, so the SDK opened a new TLS connection for every
// request; the library's own `keepAlive` option (not reachable from its CLI) lets the SDK reuse
// them, as it does with Cosmos DB. Arguments: --host HOST -p PORT (others are ignored: the
// stack adds a marker naming its state folder).
"use strict";
const { createHttpsServer } = require("@vercel/cosmosdb-server");

const args = process.argv.slice(2);
const value = (flag) => {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
};
const host = value("--host") || "127.0.0.1";
const port = parseInt(value("-p"), 10);
if (!Number.isInteger(port)) {
  console.error("usage: cosmos_server.js --host HOST -p PORT");
  process.exit(2);
}
const server = createHttpsServer({ keepAlive: true });
// Idle connections live 30 s; the SDK's pool notices a closed one before reusing it.
server.keepAliveTimeout = 30000;
server.headersTimeout = 31000;
server.listen(port, host, () => {
  console.log(`Ready to accept HTTPS connections at ${host}:${port}`);
});
