// Drive Trellis's graphql-transport-ws endpoint with the `graphql-ws` client (npm), over `ws`.
//
// Usage: node graphql_ws_client.mjs <ws://host:port/graphql> <api-key>
//
// On one socket: a subscription, a mutation that triggers it, a query; then a second client with a
// wrong key, which the server must close with 4403. Prints one JSON line:
//   {"mutation": [...results], "event": {...}, "query": [...results], "refused": {"code", "reason"}}

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, apiKey] = process.argv.slice(2);
if (!url || !apiKey) {
  process.stderr.write('usage: node graphql_ws_client.mjs <url> <api-key>\n');
  process.exit(2);
}
setTimeout(() => {
  process.stderr.write('graphql_ws_client.mjs: timed out\n');
  process.exit(1);
}, 20000).unref();

/** Run one operation to completion; resolve with every result it produced. */
function run(client, payload) {
  return new Promise((resolve, reject) => {
    const results = [];
    client.subscribe(payload, {
      next: (value) => results.push(value),
      error: reject,
      complete: () => resolve(results),
    });
  });
}

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { 'x-api-key': apiKey },
  retryAttempts: 0,
});
const out = {};
let arrived;
const event = new Promise((resolve) => { arrived = resolve; });
const unsubscribe = client.subscribe(
  { query: 'subscription { onCreateNote { title } }' },
  { next: (value) => arrived(value), error: (error) => arrived({ error: String(error) }), complete: () => {} },
);
out.mutation = await run(client, { query: 'mutation { createNote(input: {title: "from graphql-ws"}) { title } }' });
out.event = await event;
out.query = await run(client, { query: '{ listNotes { items { title } } }' });
unsubscribe();
await client.dispose();

const refused = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { 'x-api-key': 'da2-wrongwrongwrongwrongwrong' },
  retryAttempts: 0,
});
out.refused = await new Promise((resolve) => {
  refused.subscribe({ query: '{ listNotes { items { id } } }' }, {
    next: () => {},
    error: (closeEvent) => resolve({ code: closeEvent.code, reason: closeEvent.reason }),
    complete: () => resolve({ code: null }),
  });
});
await refused.dispose();
process.stdout.write(`${JSON.stringify(out)}\n`);
