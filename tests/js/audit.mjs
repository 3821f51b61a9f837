// Run graphql-http's server audit (the GraphQL-over-HTTP spec conformance suite) against a
// running Trellis server and print one JSON summary line on stdout:
//
//   {"ok": <count>, "warn": [...SHOULD failures], "error": [...MUST failures], "notice": [...MAY failures]}
//
// Each failure is {id, name, reason, status, body} (body: the start of the response text).
//
// Usage: node audit.mjs <graphql-url>      (or TRELLIS_AUDIT_URL)
// The API key Trellis requires comes from TRELLIS_AUDIT_API_KEY (or TRELLIS_API_KEY) and is
// sent as x-api-key on every audit request.
//
// Exit status: 0 with no MUST failures, 1 with any, 2 if the audit could not run at all.

import { auditServer } from 'graphql-http';

const BODY_PREVIEW = 300;

function usage(message) {
  process.stderr.write(`audit.mjs: ${message}\n`);
  process.stderr.write('usage: node audit.mjs <graphql-url>  (API key in TRELLIS_AUDIT_API_KEY or TRELLIS_API_KEY)\n');
  process.exit(2);
}

const url = process.argv[2] || process.env.TRELLIS_AUDIT_URL;
const apiKey = process.env.TRELLIS_AUDIT_API_KEY || process.env.TRELLIS_API_KEY;
if (!url) usage('no URL given');
if (!apiKey) usage('no API key in the environment');

/** global fetch, with the API key added to whatever headers the audit sends. */
async function fetchWithKey(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('x-api-key', apiKey);
  return fetch(input, { ...init, headers });
}

async function preview(response) {
  if (!response) return null;
  try {
    const text = await response.text();
    return text.length > BODY_PREVIEW ? `${text.slice(0, BODY_PREVIEW)}…` : text;
  } catch {
    return null; // the audit already read this body
  }
}

async function describe(result) {
  return {
    id: result.id,
    name: result.name,
    reason: result.reason,
    status: result.response ? result.response.status : null,
    body: await preview(result.response),
  };
}

let results;
try {
  results = await auditServer({ url, fetchFn: fetchWithKey });
} catch (err) {
  process.stderr.write(`audit.mjs: the audit could not run: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
}

const summary = { ok: 0, warn: [], error: [], notice: [] };
for (const result of results) {
  if (result.status === 'ok') {
    summary.ok += 1;
  } else if (result.status in summary) {
    summary[result.status].push(await describe(result));
  } else {
    // A status this script does not know: treat it as a failure rather than hide it.
    summary.error.push({ ...(await describe(result)), reason: `unknown audit status ${result.status}` });
  }
}

process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exit(summary.error.length === 0 ? 0 : 1);
