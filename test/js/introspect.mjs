// Fetches the schema from an Ottr server the way GraphiQL, Apollo, Postman
// and GraphQL Code Generator do: graphql-js's getIntrospectionQuery(), with
// its default options and with every option on. Run by the Go test
// internal/app/tools_test.go.
//
// Environment: OTTR_URL (http://host, the server's base URL).
// Checks that each answer builds a client schema, that the served SDL at
// /schema.graphql prints the same schema, and that the schema's
// description lists the error codes. Prints "ok <types>" and exits 0.
import {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';

const base = process.env.OTTR_URL;
setTimeout(() => fail('timed out'), 20_000).unref();

function fail(why) {
  console.error(`introspection: ${why}`);
  process.exit(1);
}

const allOptions = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
};

async function introspect(options) {
  const res = await fetch(`${base}/query`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ query: getIntrospectionQuery(options), operationName: 'IntrospectionQuery' }),
  });
  const body = await res.json();
  if (res.status !== 200 || body.errors) {
    fail(`getIntrospectionQuery(${JSON.stringify(options)}) answered ${res.status}: ${JSON.stringify(body.errors)}`);
  }
  return buildClientSchema(body.data);
}

const print = schema => printSchema(lexicographicSortSchema(schema));

const plain = await introspect(undefined);
const full = await introspect(allOptions);
for (const [name, schema] of [['default options', plain], ['all options', full]]) {
  if (schema.getQueryType()?.name !== 'Query' || !schema.getType('Project') || !schema.getSubscriptionType()) {
    fail(`${name}: the schema lacks Query, Project or Subscription`);
  }
}
if (!full.description?.includes('COMPLEXITY_LIMIT_EXCEEDED') || !full.description.includes('TOO_MANY_SUBSCRIPTIONS')) {
  fail(`the schema description does not list the error codes: ${full.description}`);
}
const project = full.getType('Project');
if (!project.description || !project.getFields().approvals.args.every(a => a.description)) {
  fail('Project or the arguments of Project.approvals have no description');
}

const res = await fetch(`${base}/schema.graphql`);
if (res.status !== 200) {
  fail(`GET /schema.graphql answered ${res.status}`);
}
const served = buildSchema(await res.text());
if (print(served) !== print(full)) {
  fail('/schema.graphql and introspection describe different schemas');
}
console.log(`ok ${Object.keys(full.getTypeMap()).filter(n => !n.startsWith('__')).length}`);
