#!/usr/bin/env node
// The local Cosmos DB API server (@vercel/cosmosdb-server), made faithful where the service relies on it:
// * keep-alive connections: its CLI always answers `connection: close`, so the SDK opened a new TLS
//   connection for every request; the library's own `keepAlive` option (not reachable from its
//   CLI) lets the SDK reuse them, as it does with Cosmos DB;
// * a point read of a missing document answers 404, as Cosmos DB does (the library fails with a
//   500 "Cannot read properties of undefined"), so the service can read documents by id;
// * a query scoped to a partition (the x-ms-documentdb-partitionkey header) sees only that
//   partition's documents, as on Cosmos DB, instead of the library scanning the whole container,
//   so a query's cost follows its partition's size, not the container's;
// * the query compiler's FROM clause copies its accumulator for every document (quadratic: 0.2 s
//   for 10,000 documents); it is rewritten to a linear filter and map with the same result.
// Arguments: --host HOST -p PORT (others are ignored: the stack adds a marker naming its state folder).
"use strict";

// Patched before the library loads its routes, which take each handler once at load time.
const readDocument = require("@vercel/cosmosdb-server/lib/handler/read-document");
const Items = require("@vercel/cosmosdb-server/lib/account/items").default;

const readExisting = readDocument.default;
readDocument.default = (account, req, res, params) => {
  const notFound = () => {
    res.statusCode = 404;
    return { code: "NotFound", message: "Entity with the specified id does not exist in the system." };
  };
  try {
    return readExisting(account, req, res, params);
  } catch (err) {
    if (err instanceof TypeError) return notFound(); // the library read a field of the missing document
    throw err;
  }
};

function partitionOf(req) {
  const header = req.headers["x-ms-documentdb-partitionkey"];
  if (!header || header === "[{}]") return undefined;
  try {
    const parsed = JSON.parse(Array.isArray(header) ? header[0] : header);
    return Array.isArray(parsed) ? parsed[0] : parsed;
  } catch (err) {
    return undefined;
  }
}

// The query handler calls items.query(body, options) synchronously after reading the body; the
// request's partition travels with the body object it passes.
const queryDocuments = require("@vercel/cosmosdb-server/lib/handler/query-documents");
const json = require("@vercel/cosmosdb-server/lib/json");
const readBody = json.default;
json.default = async (req) => {
  const body = await readBody(req);
  const partition = partitionOf(req);
  if (body && typeof body === "object" && partition !== undefined) {
    Object.defineProperty(body, "__partition", { value: partition, enumerable: false });
  }
  return body;
};
void queryDocuments;

const queryAll = Items.prototype.query;
Items.prototype.query = function query(params, options) {
  const partition = params && params.__partition;
  if (partition === undefined) return queryAll.call(this, params, options);
  const all = this._data;
  const scoped = new Map();
  for (const [rid, item] of all) {
    if (this._getPartition(item.read()) === partition) scoped.set(rid, item);
  }
  this._data = scoped;
  try {
    return queryAll.call(this, params, options);
  } finally {
    this._data = all;
  }
};

const executor = require("@zeit/cosmosdb-query/lib/executor");
const { linearFrom } = require("./cosmos_server_patches");
const execute = executor.default;
executor.default = (collection, options) => execute(collection, { ...options, code: linearFrom(options.code) });

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
