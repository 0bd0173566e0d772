// Drives s3-connector's Camunda document API with Camunda's own TypeScript SDK
// (@camunda8/orchestration-cluster-api), with request and response validation set to strict,
// authenticating through OAuth against a token endpoint served here, on loopback.
//
// Env: S3C_URL (the service), S3C_TOKEN (its bearer token). Prints one JSON line with what
// each call returned; exits 1 on any failure.
import http from 'node:http';
import { createCamundaClient } from '@camunda8/orchestration-cluster-api';

const tokenServer = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const form = new URLSearchParams(body);
    const ok = form.get('client_id') === 'sdk-client' && form.get('client_secret') === 'sdk-secret';
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { access_token: process.env.S3C_TOKEN, token_type: 'Bearer', expires_in: 3600 } : { error: 'invalid_client' }));
  });
});
await new Promise((r) => tokenServer.listen(0, '127.0.0.1', r));
const tokenUrl = `http://127.0.0.1:${tokenServer.address().port}/oauth/token`;

const camunda = createCamundaClient({
  config: {
    CAMUNDA_REST_ADDRESS: process.env.S3C_URL,
    CAMUNDA_AUTH_STRATEGY: 'OAUTH',
    CAMUNDA_CLIENT_ID: 'sdk-client',
    CAMUNDA_CLIENT_SECRET: 'sdk-secret',
    CAMUNDA_OAUTH_URL: tokenUrl,
    CAMUNDA_TOKEN_AUDIENCE: 'zeebe.camunda.io',
    // The SDK's own request schema types `file` as a string and rejects its own File; our
    // answers are what is under test, so responses are validated strictly.
    CAMUNDA_SDK_VALIDATION: 'req:none,res:strict',
    CAMUNDA_SDK_LOG_LEVEL: 'error',
  },
});

const out = {};
try {
  const text = 'Invoice 42\n'.repeat(5000);
  // Node 18 (Debian's) has File only in node:buffer; 20 and later have it as a global.
  const FileClass = globalThis.File ?? (await import('node:buffer')).File;
  const file = new FileClass([text], 'invoice.txt', { type: 'text/plain' });
  const created = await camunda.createDocument({
    file,
    metadata: { contentType: 'text/plain', fileName: 'invoice.txt', customProperties: { case: 'A-7' } },
  });
  out.created = created;
  const got = await camunda.getDocument({
    documentId: created.documentId,
    storeId: created.storeId,
    contentHash: created.contentHash,
  });
  const body = typeof got === 'string' ? got : got instanceof Blob ? await got.text() : Buffer.from(got).toString('utf8');
  out.roundTrip = body === text;
  out.length = body.length;
  try {
    await camunda.getDocument({ documentId: created.documentId, contentHash: '0'.repeat(64) });
    out.staleHash = 'accepted';
  } catch (e) {
    out.staleHash = e.status ?? e.name;
  }
  // A document id the client chooses (the documentId query parameter); taken twice, refused.
  const chosenId = crypto.randomUUID();
  const chosen = await camunda.createDocument({ file: new FileClass(['chosen'], 'chosen.txt', { type: 'text/plain' }), documentId: chosenId });
  out.chosenId = chosen.documentId === chosenId;
  try {
    await camunda.createDocument({ file: new FileClass(['again'], 'again.txt', { type: 'text/plain' }), documentId: chosenId });
    out.chosenAgain = 'accepted';
  } catch (e) {
    out.chosenAgain = e.status ?? e.name;
  }
  await camunda.deleteDocument({ documentId: chosenId });
  await camunda.deleteDocument({ documentId: created.documentId, storeId: created.storeId });
  out.deleted = true;
  try {
    await camunda.getDocument({ documentId: created.documentId });
    out.afterDelete = 'found';
  } catch (e) {
    out.afterDelete = e.status ?? e.name;
  }
  console.log(JSON.stringify(out));
  tokenServer.close();
  process.exit(0);
} catch (e) {
  console.log(JSON.stringify({ ...out, failure: `${e.name}: ${e.message}`, detail: e.issues ?? e.body ?? null }));
  tokenServer.close();
  process.exit(1);
}
