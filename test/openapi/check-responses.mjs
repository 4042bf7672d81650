// Checks answers of the API against the schemas its OpenAPI document
// gives them. Reads the document's path (argv[2]) and, on stdin, a JSON
// array of {method, path, status, body}: path is the document's path
// template, body the answer's JSON. Prints one line per answer that does
// not match, and exits 1 if any.
import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv2020 from "ajv/dist/2020.js";
import { readFileSync } from "node:fs";

const api = await SwaggerParser.dereference(JSON.parse(readFileSync(process.argv[2], "utf8")));
const answers = JSON.parse(readFileSync(0, "utf8"));
// Formats (date-time, uri) are descriptions here, not checks.
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
let failed = 0;
for (const a of answers) {
  const op = api.paths[a.path]?.[a.method.toLowerCase()];
  const response = op?.responses?.[String(a.status)];
  const schema = response?.content?.["application/json"]?.schema;
  const where = `${a.method} ${a.path} ${a.status}`;
  if (!schema) {
    console.log(`${where}: not documented`);
    failed++;
    continue;
  }
  const validate = ajv.compile(schema);
  if (!validate(a.body)) {
    console.log(`${where}: ${ajv.errorsText(validate.errors)}: ${JSON.stringify(a.body)}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
