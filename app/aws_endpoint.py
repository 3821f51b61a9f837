"""AWS-compatible wire APIs on Trellis's own port, so botocore clients work with ``endpoint_url``.

botocore sends every service's calls to ``POST /`` of the endpoint it is given; the protocol tells
them apart:

* **JSON protocol** (cognito-idp, Step Functions): ``X-Amz-Target: <TargetPrefix>.<Operation>``
  with an ``application/x-amz-json-1.x`` body. Routed by the target prefix.
* **Query protocol** (STS, IAM): a form body ``Action=<Operation>&Version=<api version>&...``.
  Routed by ``Version`` (each query service has its own API version, e.g. STS's ``2011-06-15``).

Each service gets the request, the body bytes already read (SigV4 hashes exactly these) and the
operation name; it answers in its protocol's own success and error shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

MAX_BODY_BYTES = 1 << 20


class AwsJsonService(Protocol):
    target_prefix: str  # "AWSCognitoIdentityProviderService"

    async def handle_json(self, operation: str, request: Request, body: bytes) -> Response: ...


class AwsQueryService(Protocol):
    api_version: str  # "2011-06-15"

    async def handle_query(self, action: str, params: Mapping[str, str], request: Request, body: bytes) -> Response: ...


def json_error(code: str, message: str, status: int = 400) -> Response:
    """The JSON protocol's error shape (botocore reads ``__type``, then ``message``)."""
    return JSONResponse({"__type": code, "message": message}, status_code=status,
                        media_type="application/x-amz-json-1.1")


def query_error(code: str, message: str, status: int = 400, sender: bool = True) -> Response:
    """The query protocol's ``ErrorResponse`` XML, as STS and IAM answer."""
    kind = "Sender" if sender else "Receiver"
    xml = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>{kind}</Type>'
           f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
           "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>")
    return Response(xml, status_code=status, media_type="text/xml")


class AwsEndpoint:
    def __init__(self, json_services: Sequence[AwsJsonService] = (),
                 query_services: Sequence[AwsQueryService] = ()) -> None:
        self.json_services = {s.target_prefix: s for s in json_services}
        self.query_services = {s.api_version: s for s in query_services}

    async def handle(self, request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return json_error("RequestEntityTooLarge", "request body too large", 413)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return json_error("RequestEntityTooLarge", "request body too large", 413)
        target = request.headers.get("x-amz-target")
        if target is not None:
            prefix, _, operation = target.rpartition(".")
            service = self.json_services.get(prefix)
            if service is None or not operation:
                return json_error("UnknownOperationException", f"unknown target {target!r}")
            return await service.handle_json(operation, request, body)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            try:
                params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
            except UnicodeDecodeError:
                return query_error("MalformedInput", "the body is not UTF-8")
            query_service = self.query_services.get(params.get("Version", ""))
            action = params.get("Action", "")
            if query_service is None or not action:
                return query_error("InvalidAction", f"unknown action {action!r} for version {params.get('Version')!r}")
            return await query_service.handle_query(action, params, request, body)
        return json_error("UnknownOperationException", "expected X-Amz-Target or a form-encoded Action")
