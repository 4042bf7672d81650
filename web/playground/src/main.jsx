// The playground at /: GraphiQL with the docs explorer and history, queries
// and mutations over HTTP POST to /query, subscriptions over graphql-ws on
// the same origin. Everything it loads comes from the server itself.
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { createClient } from 'graphql-ws';
import 'graphiql/style.css';
import './playground.css';
// The first document shown; a Go test (internal/app/tooling_test.go)
// checks it against the schema, deprecated fields included.
import defaultQuery from './default.graphql';

// Monaco runs its language services in web workers; build.mjs bundles each
// into its own file beside this script.
const base = document.currentScript.src;
const workerURL = name => new URL(`${name}.worker.js`, base);
const workers = { json: workerURL('json'), graphql: workerURL('graphql'), editor: workerURL('editor') };
globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    return new Worker(workers[label] ?? workers.editor);
  },
};

// The header the editor starts with. Until it is replaced by a real
// credential it is not sent, so the schema and public operations (signUp,
// logIn) work before anyone has a token.
const exampleHeaders = '{\n  "Authorization": "Bearer <token or otw_… key>"\n}';
const placeholder = /<[^>]*>/;

function realHeaders(headers) {
  const out = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (typeof value === 'string' && placeholder.test(value)) continue;
    out[name] = value;
  }
  return out;
}

const httpURL = new URL('/query', location.href).href;
const wsURL = httpURL.replace(/^http/, 'ws');

// A websocket carries its credentials in connection_init, so a change of
// headers needs a new connection: one fetcher per set of headers, the last
// one kept.
let current = { key: null, fetcher: null, client: null };
function fetcherFor(headers) {
  const key = JSON.stringify(headers);
  if (current.key !== key) {
    current.client?.dispose();
    const client = createClient({ url: wsURL, lazy: true, connectionParams: headers });
    current = { key, client, fetcher: createGraphiQLFetcher({ url: httpURL, wsClient: client }) };
  }
  return current.fetcher;
}

function fetcher(params, opts) {
  const headers = realHeaders(opts?.headers);
  return fetcherFor(headers)(params, { ...opts, headers });
}

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL
    fetcher={fetcher}
    defaultQuery={defaultQuery}
    initialHeaders={exampleHeaders}
    defaultHeaders={exampleHeaders}
    defaultEditorToolsVisibility="headers"
    isHeadersEditorEnabled
    schemaDescription
    inputValueDeprecation
  />,
);
