// Runs GraphQL Code Generator (typescript + typescript-operations) with the
// schema from a running Ottr server's URL and the documents in documents/,
// as a dashboard's build would. Run by the Go test
// internal/app/tools_test.go.
//
// Environment: OTTR_URL (http://host, the server's base URL), OTTR_OUT (the
// file to write). Prints "ok" and exits 0 when the generated types name what
// the documents select.
import { generate } from '@graphql-codegen/cli';
import { readFileSync } from 'node:fs';

const { OTTR_URL: base, OTTR_OUT: out } = process.env;
setTimeout(() => fail('timed out'), 60_000).unref();

function fail(why) {
  console.error(`codegen: ${why}`);
  process.exit(1);
}

try {
  await generate(
    {
      schema: `${base}/query`,
      documents: new URL('documents/*.graphql', import.meta.url).pathname,
      generates: { [out]: { plugins: ['typescript', 'typescript-operations'] } },
      silent: true,
      errorsOnly: true,
    },
    true,
  );
} catch (err) {
  fail(err?.message ?? String(err));
}

const ts = readFileSync(out, 'utf8');
for (const want of [
  'export type DashboardQuery = {',
  'export type CreateDeployApprovalMutation = {',
  'export type ProjectEventsSubscription = {',
  'export enum ApprovalStatus {',
  'export type CreateApprovalInput = {',
]) {
  if (!ts.includes(want)) {
    fail(`the generated types lack ${JSON.stringify(want)}`);
  }
}
// The descriptions reach the dashboard's editor as doc comments.
if (!/\/\*\* .*PIN/.test(ts)) {
  fail('the generated types carry no descriptions');
}
console.log('ok');
