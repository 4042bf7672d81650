// Subscribes to an Ottr server with the graphql-ws client (the one Apollo
// Client and urql use), as a dashboard would. Run by the Go test
// internal/realtime/live/jsclient_test.go, which records the event this waits for.
//
// Environment: OTTR_WS_URL (ws://host/query), OTTR_KEY (a valid API key),
// OTTR_PROJECT (its project), OTTR_AFTER (the last event ID before).
// Prints "ready" once connected, then the event received as JSON, then
// "refused <code>" for the connection with bad credentials; exits 0 when
// all went as expected.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const { OTTR_WS_URL: url, OTTR_KEY: key, OTTR_PROJECT: project, OTTR_AFTER: after } = process.env;
const query = `subscription($p: ID!, $a: ID) {
  projectEvents(projectId: $p, after: $a) { id type projectId keyPath }
}`;

setTimeout(() => fail('timed out'), 20_000).unref();

function fail(why) {
  console.error(`graphql-ws client: ${why}`);
  process.exit(1);
}

function client(authorization) {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: authorization },
    retryAttempts: 0,
    lazy: true,
  });
}

// A valid key: receives the event the Go side records after "ready".
const good = client(`Bearer ${key}`);
good.on('connected', () => console.log('ready'));
const event = await new Promise((resolve, reject) => {
  good.subscribe({ query, variables: { p: project, a: after } }, {
    next: (result) => (result.errors ? reject(new Error(JSON.stringify(result.errors))) : resolve(result.data.projectEvents)),
    error: (err) => reject(err),
    complete: () => reject(new Error('completed before an event')),
  });
}).catch((err) => fail(`subscription failed: ${err.message ?? err}`));
console.log(JSON.stringify(event));
await good.dispose();

// Bad credentials: the server closes the socket with 4403 Forbidden.
const bad = client('Bearer otw_not-a-real-key');
const closed = await new Promise((resolve) => {
  bad.subscribe({ query, variables: { p: project } }, {
    next: () => fail('bad credentials received data'),
    error: (err) => resolve(err),
    complete: () => fail('bad credentials completed normally'),
  });
});
if (closed?.code !== 4403) {
  fail(`bad credentials ended with ${closed?.code ?? closed}, want close code 4403`);
}
console.log(`refused ${closed.code}`);
await bad.dispose();
process.exit(0);
