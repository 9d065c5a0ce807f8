// Runs graphql-http's GraphQL-over-HTTP server audits against a live gateway and prints one JSON array of results
// on stdout: {id, name, status: ok|notice|warn|error, reason?, response?: {status, contentType, body}}.
// Usage: AUDIT_URL=http://127.0.0.1:8000/graphql AUDIT_TOKEN=<jwt> node audit.mjs
// The token goes in an environment variable, not argv, so it does not show in the process list.
import { serverAudits } from 'graphql-http';

const BODY_EXCERPT_CHARS = 2000;

const url = process.env.AUDIT_URL;
if (!url) {
  console.error('AUDIT_URL is not set');
  process.exit(2);
}
const token = process.env.AUDIT_TOKEN;

// Every audit request carries the bearer token of a real principal, as a client of the gateway would send it.
function authorizedFetch(input, init = {}) {
  const headers = new Headers(init.headers);
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

async function describeResponse(response) {
  if (!response) return undefined;
  let body;
  try {
    body = (await response.text()).slice(0, BODY_EXCERPT_CHARS);
  } catch (err) {
    body = `<body not readable: ${err}>`;
  }
  return { status: response.status, contentType: response.headers.get('content-type'), body };
}

const results = [];
for (const audit of serverAudits({ url, fetchFn: authorizedFetch })) {
  let result;
  try {
    result = await audit.fn();
  } catch (err) {
    // graphql-http treats anything but an assertion failure as fatal; record it as a failed audit instead.
    results.push({ id: audit.id, name: audit.name, status: 'error', reason: `audit crashed: ${err}` });
    continue;
  }
  const entry = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    entry.reason = result.reason;
    entry.response = await describeResponse(result.response);
  }
  results.push(entry);
}
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
