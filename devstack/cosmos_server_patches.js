// Rewrites of the local Cosmos DB server's query compiler output (see cosmos_server.js).
"use strict";

// The compiler turns `FROM c` into a reduce that copies its accumulator for every document:
// quadratic in the documents. A filter and a map give the same array in linear time.
const QUADRATIC_FROM = /\$c\.reduce\(\(\$, c\) => typeof c !== "undefined" \? \[\.\.\.\$, \{\s*c: c\s*\}\] : \$, \[\]\)/g;
const LINEAR_FROM = '$c.filter(c => typeof c !== "undefined").map(c => ({ c: c }))';

function linearFrom(code) {
  return code.replace(QUADRATIC_FROM, LINEAR_FROM);
}

module.exports = { linearFrom };
