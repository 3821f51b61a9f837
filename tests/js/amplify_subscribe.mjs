// Subscribe to Trellis's AppSync real-time endpoint with the Amplify JS v6 client (`aws-amplify`).
//
// Usage: node amplify_subscribe.mjs <http://host:port/graphql> <api-key>
//
// Amplify derives wss://host:port/graphql/realtime from the (custom-domain) endpoint and sends its
// credentials in a `header-<base64url JSON>` subprotocol. Node 20 has no global WebSocket, and the
// test server speaks plain HTTP, so a shim built on `ws` stands in for it and rewrites wss:// to
// ws://. Once the subscription is acknowledged (Hub: ConnectionState Connected) a mutation over
// HTTP, also through Amplify, triggers it. Prints one JSON line:
//   {"protocols": [...offered subprotocols], "url": "...", "event": {...data}}

import { Amplify } from 'aws-amplify';
import { CONNECTION_STATE_CHANGE, ConnectionState, generateClient } from 'aws-amplify/api';
import { Hub } from 'aws-amplify/utils';
import { WebSocket as NodeWebSocket } from 'ws';

const [endpoint, apiKey] = process.argv.slice(2);
if (!endpoint || !apiKey) {
  process.stderr.write('usage: node amplify_subscribe.mjs <graphql-url> <api-key>\n');
  process.exit(2);
}
setTimeout(() => {
  process.stderr.write('amplify_subscribe.mjs: timed out\n');
  process.exit(1);
}, 20000).unref();

const opened = [];
class ShimWebSocket extends NodeWebSocket {
  constructor(url, protocols) {
    const plain = String(url).replace(/^wss:\/\//, 'ws://');
    opened.push({ url: plain, protocols });
    super(plain, protocols);
  }
}
globalThis.WebSocket = ShimWebSocket;

Amplify.configure({
  API: { GraphQL: { endpoint, region: 'us-east-1', defaultAuthMode: 'apiKey', apiKey } },
});
const client = generateClient();

let mutated = false;
Hub.listen('api', ({ payload }) => {
  if (payload.event === CONNECTION_STATE_CHANGE && payload.data.connectionState === ConnectionState.Connected
      && !mutated) {
    mutated = true;
    client.graphql({ query: 'mutation { createNote(input: {title: "from amplify"}) { id title } }' })
      .catch((error) => {
        process.stderr.write(`mutation failed: ${JSON.stringify(error)}\n`);
        process.exit(1);
      });
  }
});

const subscription = client.graphql({ query: 'subscription OnCreate { onCreateNote { title } }' }).subscribe({
  next: ({ data }) => {
    subscription.unsubscribe();
    const [first] = opened;
    process.stdout.write(`${JSON.stringify({ protocols: first.protocols, url: first.url, event: data })}\n`);
    process.exit(0);
  },
  error: (error) => {
    process.stderr.write(`subscription failed: ${JSON.stringify(error)}\n`);
    process.exit(1);
  },
});
