// Validates an OpenAPI document (a file path, or - for stdin) with
// swagger-parser: the document against the OpenAPI 3.1 schema, every $ref
// resolved. Prints the operations it found, one "METHOD /path" a line.
import SwaggerParser from "@apidevtools/swagger-parser";
import { readFileSync } from "node:fs";

const source = process.argv[2] ?? "-";
const doc = JSON.parse(readFileSync(source === "-" ? 0 : source, "utf8"));
try {
  const api = await SwaggerParser.validate(doc);
  if (api.openapi !== "3.1.0") throw new Error(`openapi is ${api.openapi}, want 3.1.0`);
  const methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
  for (const [path, item] of Object.entries(api.paths ?? {})) {
    for (const m of methods) if (item[m]) console.log(`${m.toUpperCase()} ${path}`);
  }
} catch (err) {
  console.error(String(err.message ?? err));
  process.exit(1);
}
