// Fan-out benchmark client: N AppSync real-time connections, one subscription each.
// Usage: node client.mjs <ws-url> <count> <host> <api-key>
// stdin commands: "mark" starts a measurement window, "report" prints its stats as one JSON line.
import { createRequire } from "node:module";
import readline from "node:readline";

const require = createRequire(new URL("../../tests/js/package.json", import.meta.url));
const WebSocket = require("ws");

const [url, countText, host, apiKey] = process.argv.slice(2);
const count = Number(countText);
const auth = { host, "x-api-key": apiKey };
const header = Buffer.from(JSON.stringify(auth)).toString("base64");
const query = "subscription { onCreateTick { id seq sentAt payload } }";

let received = 0;
let first = 0;
let last = 0;
let latencies = [];
let ready = 0;
let errors = 0;

function open(index) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}?header=${header}&payload=e30=`, ["graphql-ws"], { perMessageDeflate: false });
    ws.on("open", () => ws.send(JSON.stringify({ type: "connection_init" })));
    ws.on("error", reject);
    ws.on("message", (raw) => {
      // Data frames are counted from their prefix and only every 10th is parsed for its latency, so
      // the client stays cheap next to the servers it measures.
      if (raw.subarray(0, 16).toString() === '{"type":"data","') {
        const now = Date.now();
        received += 1;
        if (first === 0) first = now;
        last = now;
        if (received % 10 === 0) {
          const sentAt = Number(/"sentAt":([0-9.e+]+)/.exec(raw.toString())[1]);
          latencies.push(now - sentAt * 1000);
        }
        return;
      }
      const message = JSON.parse(raw);
      if (message.type === "connection_ack") {
        ws.send(JSON.stringify({
          id: `s${index}`, type: "start",
          payload: { data: JSON.stringify({ query, variables: {} }), extensions: { authorization: auth } },
        }));
      } else if (message.type === "start_ack") {
        ready += 1;
        resolve(ws);
      } else if (message.type === "error" || message.type === "connection_error") {
        errors += 1;
        reject(new Error(JSON.stringify(message)));
      }
    });
  });
}

const sockets = [];
for (let i = 0; i < count; i += 50) {
  const batch = [];
  for (let j = i; j < Math.min(count, i + 50); j += 1) batch.push(open(j));
  sockets.push(...(await Promise.all(batch)));
}
console.log(JSON.stringify({ ready }));

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  const command = line.trim();
  if (command === "mark") {
    received = 0; first = 0; last = 0; latencies = [];
  } else if (command === "report") {
    const sorted = Float64Array.from(latencies).sort();
    const seconds = (last - first) / 1000;
    console.log(JSON.stringify({
      received, seconds, errors,
      perSecond: seconds > 0 ? received / seconds : 0,
      p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1] : null,
    }));
  } else if (command === "quit") {
    for (const ws of sockets) ws.terminate();
    process.exit(0);
  }
});
