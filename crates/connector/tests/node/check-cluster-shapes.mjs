// Checks recorded Orchestration Cluster API exchanges against Camunda's published zod schemas
// (@camunda/camunda-api-zod-schemas, API 8.10), so that the worker tests' fake cluster, and
// what the worker sends it, cannot drift from the real API.
//
// Input (argv[2]): a JSON file, [[schemaName, value], ...]. Output: one line per problem;
// exit status 1 when any exchange does not fit its schema.
import { readFileSync } from 'node:fs';
import * as job from '@camunda/camunda-api-zod-schemas/8.10/job';
import * as doc from '@camunda/camunda-api-zod-schemas/8.10/document';

const schemas = {
  activateJobsRequest: job.activateJobsRequestBodySchema,
  activateJobsResponse: job.activateJobsResponseBodySchema,
  completeJobRequest: job.completeJobRequestBodySchema,
  failJobRequest: job.failJobRequestBodySchema,
  throwJobErrorRequest: job.throwJobErrorRequestBodySchema,
  updateJobRequest: job.updateJobRequestBodySchema,
  documentReference: doc.documentReferenceSchema,
};

// Unknown members are errors too: a misspelt field (retryBackoff for retryBackOff) would
// otherwise pass, and the real cluster would silently ignore it.
const strict = (s) => (typeof s.strict === 'function' ? s.strict() : s);

const exchanges = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let bad = 0;
const seen = {};
for (const [name, value] of exchanges) {
  const schema = schemas[name];
  if (!schema) {
    console.log(`${name}: no such schema`);
    bad++;
    continue;
  }
  seen[name] = (seen[name] || 0) + 1;
  const result = strict(schema).safeParse(value);
  if (!result.success) {
    bad++;
    console.log(`${name}: ${JSON.stringify(result.error.issues)} in ${JSON.stringify(value).slice(0, 400)}`);
  }
}
console.log(JSON.stringify({ checked: seen, problems: bad }));
process.exit(bad ? 1 : 0);
