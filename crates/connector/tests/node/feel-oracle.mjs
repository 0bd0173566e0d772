// Differential-testing oracle: evaluates FEEL with feelin (the interpreter of the bpmn.io
// tools). Reads JSON lines {"expr", "vars"} on stdin and writes one JSON line per input:
// {"value": ...} or {"error": "..."}.
//
// Camunda's connector runtime adds bpmnError, jobError and ignoreError to FEEL; they are
// given here as plain functions with the shapes of Camunda's Java implementations, so the
// expressions processes actually write can be compared.
import { evaluate } from 'feelin';
import { createInterface } from 'node:readline';

const camunda = {
  bpmnError: (errorCode, errorMessage, variables) => ({
    errorType: 'bpmnError', errorCode, errorMessage: errorMessage ?? null, variables: variables ?? {},
  }),
  jobError: (errorMessage, variables, retries, retryBackoff) => ({
    errorType: 'jobError', errorMessage, variables: variables ?? {}, retries: retries ?? 0,
    retryBackoff: retryBackoff ?? 'PT0S',
  }),
  ignoreError: (variables) => (variables == null ? { errorType: 'ignoreError' } : { errorType: 'ignoreError', variables }),
};

// Temporal values and other objects become JSON the way Camunda's runtime renders them.
const plain = (v) => JSON.parse(JSON.stringify(v ?? null));

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const { expr, vars } = JSON.parse(line);
  let out;
  try {
    const text = expr.trim().replace(/^=/, '');
    out = { value: plain(evaluate(text, { ...camunda, ...(vars ?? {}) }).value) };
  } catch (e) {
    out = { error: String(e.message ?? e) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
