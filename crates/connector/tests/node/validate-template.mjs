// Validates element templates (JSON files named on the command line) against the official
// schema from @camunda/zeebe-element-templates-json-schema, with ajv (draft-07).
// Prints one JSON line per file: {"file", "valid", "errors"}; exits 1 if any is invalid.
import Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const schemaPath = require.resolve('@camunda/zeebe-element-templates-json-schema/resources/schema.json');
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));
let failed = false;
for (const file of process.argv.slice(2)) {
  const valid = validate(JSON.parse(readFileSync(file, 'utf8')));
  failed ||= !valid;
  console.log(JSON.stringify({ file, valid, errors: valid ? [] : validate.errors }));
}
process.exit(failed ? 1 : 0);
