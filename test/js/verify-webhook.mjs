// Verifies webhook requests with the official Standard Webhooks library,
// unmodified. Reads one JSON object a line from stdin:
// {"secret": "whsec_…", "headers": {"webhook-id": …}, "body": "…"},
// and prints "ok" or "refused: <reason>" for each.
import { createInterface } from "node:readline";
import { Webhook } from "standardwebhooks";

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const { secret, headers, body } = JSON.parse(line);
  try {
    new Webhook(secret).verify(body, headers);
    console.log("ok");
  } catch (err) {
    console.log("refused: " + err.message);
  }
}
