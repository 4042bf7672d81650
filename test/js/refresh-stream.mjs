// Follows a project's live events across access-token expiries with the
// graphql-ws client, as the README's recipe says: connectionParams is a
// function that refreshes the access token when it is about to run out,
// the client retries the connection when the server closes it (4403 at
// the token's expiry), and the subscription resumes after the last event
// received (its variables are updated in place, so the client's
// resubscription sends the new cursor). Run by the Go test
// internal/realtime/live/refresh_stream_test.go, which records the events.
//
// Environment: OTTR_HTTP_URL (http://host), OTTR_WS_URL (ws://host/query),
// OTTR_REFRESH (a refresh token), OTTR_PROJECT, OTTR_AFTER (the last event
// id before). Prints "connected" at each connection and "event <id>" for
// each event; stops when stdin closes.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const { OTTR_HTTP_URL: http, OTTR_WS_URL: url, OTTR_PROJECT: project } = process.env;
let refreshToken = process.env.OTTR_REFRESH;

// The session: an access token and when it expires.
let accessToken = null;
let expiresAt = 0;

async function freshAccessToken() {
  if (accessToken && Date.now() < expiresAt - 1000) {
    return accessToken;
  }
  const res = await fetch(`${http}/query`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken expiresAt } }',
      variables: { t: refreshToken },
    }),
  });
  const body = await res.json();
  if (body.errors) {
    throw new Error(`refreshSession: ${JSON.stringify(body.errors)}`);
  }
  ({ accessToken, refreshToken } = body.data.refreshSession);
  expiresAt = Date.parse(body.data.refreshSession.expiresAt);
  console.log('refreshed');
  return accessToken;
}

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: async () => ({ Authorization: `Bearer ${await freshAccessToken()}` }),
  retryAttempts: Infinity,
  // Every close is worth a retry here: 4403 at a token's expiry, 1001
  // when a server instance stops, network errors.
  shouldRetry: () => true,
  retryWait: () => new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300)),
});
client.on('connected', () => console.log('connected'));

const variables = { p: project, a: process.env.OTTR_AFTER };
client.subscribe(
  {
    query: 'subscription($p: ID!, $a: ID) { projectEvents(projectId: $p, after: $a) { id type } }',
    variables,
  },
  {
    next: (result) => {
      if (result.errors) {
        console.error(`errors: ${JSON.stringify(result.errors)}`);
        process.exit(1);
      }
      const ev = result.data.projectEvents;
      variables.a = ev.id; // the resubscription after a reconnect resumes here
      console.log(`event ${ev.id}`);
    },
    error: (err) => {
      console.error(`subscription failed: ${err?.code ?? ''} ${err?.reason ?? err?.message ?? err}`);
      process.exit(1);
    },
    complete: () => {
      console.error('subscription completed');
      process.exit(1);
    },
  },
);

process.stdin.on('data', () => {});
process.stdin.on('end', async () => {
  await client.dispose();
  process.exit(0);
});
