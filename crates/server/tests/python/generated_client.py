"""Drives the s3-connector HTTP service through a client generated from its /openapi.json by
openapi-python-client: JSON actions, a streamed upload (octet-stream body with the request in
the header), a multipart upload, getObject's binary answer, and Camunda's document API.

The generated package is on sys.path as `s3c_client`. Prints one JSON line of what it saw.
Usage: generated_client.py BASE_URL TOKEN
"""

import io
import json
import sys

from s3c_client import AuthenticatedClient
from s3c_client.api.actions import post_action
from s3c_client.api.documents import create, read, remove
from s3c_client.models import (
    ActionForm,
    CreateBucket,
    CreateBucketAction,
    CreateBucketResult,
    DocumentForm,
    GetObject,
    GetObjectAction,
    ListObjects,
    ListObjectsAction,
    ListObjectsResult,
    PutObject,
    PutObjectAction,
    PutObjectResult,
)
from s3c_client.types import File

base, token = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
seen = {}


def result(model, response):
    """The result as the model of the action sent. The answer of /v1/actions is any action's
    result, a union without a tag (the caller knows which action it sent), so the generated
    union parser takes the first model whose required fields are there: pick the model."""
    assert response.status_code == 200, (response.status_code, response.content)
    return model.from_dict(json.loads(response.content))


created = result(CreateBucketResult, post_action.sync_detailed(client=client, body=CreateBucket(action=CreateBucketAction.CREATEBUCKET, bucket="generated")))
seen["createBucket"] = created.bucket

put = result(PutObjectResult, post_action.sync_detailed(
    client=client,
    body=PutObject(action=PutObjectAction.PUTOBJECT, bucket="generated", key="inline.txt", content="inline text"),
))
seen["putInline"] = put.size

streamed = result(PutObjectResult, post_action.sync_detailed(
    client=client,
    body=File(payload=io.BytesIO(b"streamed bytes" * 1000), mime_type="text/plain"),
    s3_connector_request=json.dumps({"action": "putObject", "bucket": "generated", "key": "streamed.txt"}),
))
seen["putStreamed"] = streamed.size

form = result(PutObjectResult, post_action.sync_detailed(
    client=client,
    body=ActionForm(
        request=json.dumps({"action": "putObject", "bucket": "generated", "key": "form.bin"}),
        content=File(payload=io.BytesIO(bytes(range(256)) * 10), file_name="form.bin", mime_type="application/octet-stream"),
    ),
))
seen["putForm"] = form.size

# getObject answers with the object's bytes, not JSON. The description says so (200 is
# application/json or application/octet-stream), but the generator parses every 200 as JSON,
# so the bytes are read through the generated client's own HTTP client, with its model as
# the request.
get = GetObject(action=GetObjectAction.GETOBJECT, bucket="generated", key="form.bin")
got = client.get_httpx_client().post("/v1/actions", json=get.to_dict())
assert got.status_code == 200, (got.status_code, got.content)
seen["getBytes"] = got.content == bytes(range(256)) * 10
seen["getResultHeader"] = json.loads(got.headers["s3-connector-result"])["size"]

listed = result(ListObjectsResult, post_action.sync_detailed(client=client, body=ListObjects(action=ListObjectsAction.LISTOBJECTS, bucket="generated")))
seen["listed"] = sorted(o.key for o in listed.objects)

reference = create.sync(
    client=client,
    body=DocumentForm(
        metadata=json.dumps({"fileName": "invoice.txt", "contentType": "text/plain"}),
        file=File(payload=io.BytesIO(b"a document"), file_name="invoice.txt", mime_type="text/plain"),
    ),
)
seen["documentName"] = reference.metadata.file_name
content = read.sync_detailed(client=client, document_id=reference.document_id, content_hash=reference.content_hash)
seen["documentBytes"] = content.content.decode()
remove.sync_detailed(client=client, document_id=reference.document_id)
gone = read.sync_detailed(client=client, document_id=reference.document_id)
seen["afterDelete"] = int(gone.status_code)

print(json.dumps(seen))
