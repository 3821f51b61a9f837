"""An SQS-compatible wire API over Trellis's queues (``workflows.queues``), so SQS clients work with
``endpoint_url`` pointed at Trellis.

botocore's current ``sqs`` client speaks awsJson1_0: ``POST /`` with ``X-Amz-Target:
AmazonSQS.<Operation>``. Answers are ``application/x-amz-json-1.0``; errors are
``{"__type": "com.amazonaws.sqs#<Shape>", "message": ...}`` plus the ``x-amzn-query-error:
<legacy code>;Sender`` header, from which botocore takes the error code
(``AWS.SimpleQueueService.NonExistentQueue``) while ``client.exceptions.QueueDoesNotExist`` still
matches. Queue URLs are ``<scheme>://<host:port the client used>/<account>/<name>``.

Every call is SigV4-signed for service ``sqs`` and then checked against IAM: ``sqs:<Operation>`` on
the queue's ARN (batch calls as their single-message action, as AWS does; ``ListQueues`` on ``*``).
Without a valid signature or an allowing policy nothing runs (fail-closed).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from starlette.requests import Request
from starlette.responses import Response

from auth.service_gate import GateRefusal, ServiceGate
from auth.sigv4 import CredentialLookup
from workflows.queue_rules import (
    DEFAULT_SENDER,
    QueueError,
    ReceivedMessage,
    SentMessage,
    check_message_attributes,
    invalid_parameter,
    missing_parameter,
)
from workflows.queues import QueueStore

log = logging.getLogger("trellis.sqs")
CONTENT_TYPE = "application/x-amz-json-1.0"
MAX_BATCH = 10
MAX_BATCH_BYTES = 262144
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass(frozen=True)
class Call:
    """One request: its parameters and the base of the queue URLs to answer with."""

    params: Mapping[str, Any]
    base_url: str
    sender: str = ""     # the caller's principal id: messages' SenderId

    def get(self, name: str) -> Any:
        return self.params.get(name)


Operation = Callable[["SqsService", Call], Awaitable[dict[str, Any]]]


class SqsGate:
    """A SigV4 signature for service ``sqs``, then IAM policy: ``sqs:<Action>`` on the queue ARN."""

    def __init__(self, lookup: CredentialLookup, region: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.gate = ServiceGate(lookup, region, "sqs", clock)

    async def check(self, action: str, resource: str, request: Request, body: bytes) -> str:
        """The caller's principal id, once the signature and IAM allow ``sqs:<action>`` on ``resource``."""
        try:
            caller = await self.gate.check(action, resource, request, body)
        except GateRefusal as refusal:
            query_code = refusal.code if refusal.signature else "AccessDenied"
            raise QueueError(refusal.code, refusal.message, query_code, 403) from refusal
        return caller.principal_id


def _error_response(exc: QueueError) -> Response:
    body = json.dumps({"__type": f"com.amazonaws.sqs#{exc.code}", "message": exc.message})
    fault = "Receiver" if exc.status >= 500 else "Sender"
    return Response(body, status_code=exc.status, media_type=CONTENT_TYPE,
                    headers={"x-amzn-query-error": f"{exc.query_code};{fault}", "x-amzn-RequestId": str(uuid.uuid4())})


def _ok(answer: Mapping[str, Any]) -> Response:
    return Response(json.dumps(answer), media_type=CONTENT_TYPE, headers={"x-amzn-RequestId": str(uuid.uuid4())})


class SqsService:
    target_prefix = "AmazonSQS"

    def __init__(self, queues: QueueStore, gate: SqsGate) -> None:
        self.queues = queues
        self.gate = gate

    async def handle_json(self, operation: str, request: Request, body: bytes) -> Response:
        try:
            params = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            params = None
        if not isinstance(params, dict):
            return _error_response(QueueError("SerializationException", "The request body is not a JSON object.",
                                              "MalformedInput"))
        answer = await self.dispatch(operation, params, request, body)
        return _error_response(answer) if isinstance(answer, QueueError) else _ok(answer)

    async def dispatch(self, operation: str, params: Mapping[str, Any], request: Request,
                       body: bytes) -> dict[str, Any] | QueueError:
        """Check the caller, then run the operation: its answer (JSON shapes) or its error."""
        entry = OPERATIONS.get(operation)
        if entry is None:
            return QueueError("UnsupportedOperation", f"Operation {operation} is not supported.",
                              "AWS.SimpleQueueService.UnsupportedOperation")
        handler, action = entry
        base_url = str(request.base_url).rstrip("/")
        try:
            sender = await self.gate.check(action, self._resource(operation, Call(params, base_url)), request, body)
            return await handler(self, Call(params, base_url, sender))
        except QueueError as exc:
            return exc
        except Exception:
            log.exception("SQS %s failed", operation)
            return QueueError("InternalFailure", "We encountered an internal error. Please try again.",
                              "InternalFailure", 500)

    # -- helpers -----------------------------------------------------------------------------------

    def _resource(self, operation: str, call: Call) -> str:
        """The ARN IAM checks: the queue's (before we know whether it exists, as AWS does)."""
        if operation == "ListQueues":
            return "*"
        name = call.get("QueueName")
        if not isinstance(name, str):
            url = call.get("QueueUrl")
            name = url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) and url else "*"
        return self.queues.queue_arn(name)

    def url(self, call: Call, name: str) -> str:
        return f"{call.base_url}/{self.queues.account_id}/{name}"

    def queue_name(self, call: Call) -> str:
        return self.queues.name_from_url(call.get("QueueUrl"))


# -- queues ---------------------------------------------------------------------------------------------


async def create_queue(service: SqsService, call: Call) -> dict[str, Any]:
    record = await service.queues.create_queue(call.get("QueueName"), call.get("Attributes"))
    return {"QueueUrl": service.url(call, record.name)}


async def get_queue_url(service: SqsService, call: Call) -> dict[str, Any]:
    name = call.get("QueueName")
    if not isinstance(name, str) or not name:
        raise missing_parameter("QueueName")
    owner = call.get("QueueOwnerAWSAccountId")
    if owner not in (None, service.queues.account_id):
        raise QueueError("QueueDoesNotExist", "The specified queue does not exist.",
                         "AWS.SimpleQueueService.NonExistentQueue")
    record = await service.queues.require(name)
    return {"QueueUrl": service.url(call, record.name)}


def _page_token(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode("ascii")


async def list_queues(service: SqsService, call: Call) -> dict[str, Any]:
    prefix = call.get("QueueNamePrefix") or ""
    limit = call.get("MaxResults")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000):
        raise invalid_parameter(f"Value {limit} for parameter MaxResults is invalid. Reason: MaxResults must be an "
                                "integer between 1 and 1000.")
    token = call.get("NextToken")
    after = None
    if token is not None:
        try:
            after = base64.urlsafe_b64decode(str(token).encode("ascii")).decode()
        except (ValueError, UnicodeError) as exc:
            raise invalid_parameter("Invalid NextToken value.") from exc
    names = await service.queues.list_queues(str(prefix), after, (limit or 1000) + 1)
    answer: dict[str, Any] = {}
    page = names[: limit or 1000]
    if page:
        answer["QueueUrls"] = [service.url(call, n) for n in page]
    if limit is not None and len(names) > limit:
        answer["NextToken"] = _page_token(page[-1])
    return answer


async def delete_queue(service: SqsService, call: Call) -> dict[str, Any]:
    await service.queues.delete_queue(service.queue_name(call))
    return {}


async def get_queue_attributes(service: SqsService, call: Call) -> dict[str, Any]:
    names = call.get("AttributeNames") or []
    name = service.queue_name(call)
    if not names:
        await service.queues.require(name)
        return {}
    attributes = await service.queues.attributes(name, [str(n) for n in names])
    return {"Attributes": attributes} if attributes else {}


async def set_queue_attributes(service: SqsService, call: Call) -> dict[str, Any]:
    attributes = call.get("Attributes")
    if not attributes:
        raise missing_parameter("Attributes")
    await service.queues.set_attributes(service.queue_name(call), attributes)
    return {}


async def purge_queue(service: SqsService, call: Call) -> dict[str, Any]:
    await service.queues.purge(service.queue_name(call))
    return {}


# -- messages -------------------------------------------------------------------------------------------


def _sent(sent: SentMessage) -> dict[str, Any]:
    answer: dict[str, Any] = {"MD5OfMessageBody": sent.md5_body, "MessageId": sent.message_id}
    if sent.md5_attributes is not None:
        answer["MD5OfMessageAttributes"] = sent.md5_attributes
    if sent.sequence_number is not None:
        answer["SequenceNumber"] = sent.sequence_number
    return answer


async def _send(service: SqsService, call: Call, name: str, entry: Mapping[str, Any]) -> SentMessage:
    return await service.queues.send(
        name, entry.get("MessageBody"), entry.get("MessageAttributes"), delay_seconds=entry.get("DelaySeconds"),
        group_id=entry.get("MessageGroupId"), dedup_id=entry.get("MessageDeduplicationId"),
        sender=call.sender or DEFAULT_SENDER)


async def send_message(service: SqsService, call: Call) -> dict[str, Any]:
    return _sent(await _send(service, call, service.queue_name(call), call.params))


def _entries(call: Call, kind: str) -> list[Mapping[str, Any]]:
    entries = call.get("Entries")
    if not entries:
        raise QueueError("EmptyBatchRequest", f"There should be at least one {kind} in the request.",
                         "AWS.SimpleQueueService.EmptyBatchRequest")
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise invalid_parameter("Entries must be a list of entries.")
    if len(entries) > MAX_BATCH:
        raise QueueError("TooManyEntriesInBatchRequest", f"Maximum number of entries per request are {MAX_BATCH}. "
                         f"You have sent {len(entries)}.", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id")
        if not isinstance(entry_id, str) or not _BATCH_ID.match(entry_id):
            raise QueueError("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, "
                             "hyphens and underscores. It can be at most 80 letters long.",
                             "AWS.SimpleQueueService.InvalidBatchEntryId")
        if entry_id in seen:
            raise QueueError("BatchEntryIdsNotDistinct", f"Id {entry_id} repeated.",
                             "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        seen.add(entry_id)
    return entries


def _failed(entry_id: str, exc: QueueError) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": exc.status < 500, "Code": exc.query_code, "Message": exc.message}


def _batch_answer(successful: list[dict[str, Any]], failed: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Successful": successful, "Failed": failed}


async def send_message_batch(service: SqsService, call: Call) -> dict[str, Any]:
    name = service.queue_name(call)
    entries = _entries(call, "SendMessageBatchRequestEntry")
    size = sum(len(str(e.get("MessageBody") or "").encode()) for e in entries)
    for entry in entries:
        try:
            attributes = check_message_attributes(entry.get("MessageAttributes"))
        except QueueError:
            continue  # reported on the entry itself
        size += sum(len(k) + len(json.dumps(v)) for k, v in attributes.items())
    if size > MAX_BATCH_BYTES:
        raise QueueError("BatchRequestTooLong", f"Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. "
                         f"You have sent {size} bytes.", "AWS.SimpleQueueService.BatchRequestTooLong")
    await service.queues.require(name)
    successful, failed = [], []
    for entry in entries:
        try:
            successful.append({"Id": entry["Id"], **_sent(await _send(service, call, name, entry))})
        except QueueError as exc:
            failed.append(_failed(entry["Id"], exc))
    return _batch_answer(successful, failed)


def _message(message: ReceivedMessage) -> dict[str, Any]:
    shape: dict[str, Any] = {"MessageId": message.message_id, "ReceiptHandle": message.receipt_handle,
                             "MD5OfBody": message.md5_body, "Body": message.body}
    if message.system_attributes:
        shape["Attributes"] = dict(message.system_attributes)
    if message.message_attributes:
        shape["MD5OfMessageAttributes"] = message.md5_attributes
        shape["MessageAttributes"] = dict(message.message_attributes)
    return shape


async def receive_message(service: SqsService, call: Call) -> dict[str, Any]:
    name = service.queue_name(call)
    system = [*(call.get("AttributeNames") or []), *(call.get("MessageSystemAttributeNames") or [])]
    limit = call.get("MaxNumberOfMessages")
    messages = await service.queues.receive(
        name, 1 if limit is None else limit, call.get("VisibilityTimeout"), call.get("WaitTimeSeconds"),
        system_attributes=[str(s) for s in system], attribute_names=[str(a) for a in
                                                                     call.get("MessageAttributeNames") or []])
    return {"Messages": [_message(m) for m in messages]} if messages else {}


async def delete_message(service: SqsService, call: Call) -> dict[str, Any]:
    await service.queues.delete(service.queue_name(call), call.get("ReceiptHandle"))
    return {}


async def delete_message_batch(service: SqsService, call: Call) -> dict[str, Any]:
    name = service.queue_name(call)
    entries = _entries(call, "DeleteMessageBatchRequestEntry")
    await service.queues.require(name)
    successful, failed = [], []
    for entry in entries:
        try:
            await service.queues.delete(name, entry.get("ReceiptHandle"))
            successful.append({"Id": entry["Id"]})
        except QueueError as exc:
            failed.append(_failed(entry["Id"], exc))
    return _batch_answer(successful, failed)


async def change_message_visibility(service: SqsService, call: Call) -> dict[str, Any]:
    await service.queues.change_visibility(service.queue_name(call), call.get("ReceiptHandle"),
                                           call.get("VisibilityTimeout"))
    return {}


async def change_message_visibility_batch(service: SqsService, call: Call) -> dict[str, Any]:
    name = service.queue_name(call)
    entries = _entries(call, "ChangeMessageVisibilityBatchRequestEntry")
    await service.queues.require(name)
    successful, failed = [], []
    for entry in entries:
        try:
            await service.queues.change_visibility(name, entry.get("ReceiptHandle"), entry.get("VisibilityTimeout"))
            successful.append({"Id": entry["Id"]})
        except QueueError as exc:
            failed.append(_failed(entry["Id"], exc))
    return _batch_answer(successful, failed)


# Operation -> (handler, the IAM action it needs).
OPERATIONS: dict[str, tuple[Operation, str]] = {
    "CreateQueue": (create_queue, "CreateQueue"),
    "GetQueueUrl": (get_queue_url, "GetQueueUrl"),
    "ListQueues": (list_queues, "ListQueues"),
    "DeleteQueue": (delete_queue, "DeleteQueue"),
    "GetQueueAttributes": (get_queue_attributes, "GetQueueAttributes"),
    "SetQueueAttributes": (set_queue_attributes, "SetQueueAttributes"),
    "PurgeQueue": (purge_queue, "PurgeQueue"),
    "SendMessage": (send_message, "SendMessage"),
    "SendMessageBatch": (send_message_batch, "SendMessage"),
    "ReceiveMessage": (receive_message, "ReceiveMessage"),
    "DeleteMessage": (delete_message, "DeleteMessage"),
    "DeleteMessageBatch": (delete_message_batch, "DeleteMessage"),
    "ChangeMessageVisibility": (change_message_visibility, "ChangeMessageVisibility"),
    "ChangeMessageVisibilityBatch": (change_message_visibility_batch, "ChangeMessageVisibility"),
}


# -- the query protocol (older SDKs) ----------------------------------------------------------------------
#
# SDKs from before SQS moved to JSON (boto3 < 1.34.90, AWS SDK for Java 1.x and others) send form bodies
# ``Action=SendMessage&Version=2012-11-05&...`` with lists and maps flattened (``Attribute.1.Name``,
# ``MessageAttribute.1.Value.StringValue``, ``SendMessageBatchRequestEntry.1.Id``) and read XML back.
# These translate both ways around the same operations.

QUERY_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
_QUERY_INTEGERS = frozenset({"DelaySeconds", "MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds",
                             "MaxResults"})
_QUERY_LISTS = {"AttributeName": "AttributeNames", "MessageAttributeName": "MessageAttributeNames",
                "MessageSystemAttributeName": "MessageSystemAttributeNames"}
_QUERY_ENTRIES = frozenset({"SendMessageBatchRequestEntry", "DeleteMessageBatchRequestEntry",
                            "ChangeMessageVisibilityBatchRequestEntry"})
_NO_RESULT = frozenset({"DeleteMessage", "DeleteQueue", "ChangeMessageVisibility", "SetQueueAttributes",
                        "PurgeQueue"})


def params_from_query(flat: Mapping[str, str]) -> dict[str, Any]:
    """The JSON-protocol parameters a flattened query request stands for."""
    params: dict[str, Any] = {}
    groups: dict[str, dict[int, dict[str, str]]] = {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if not rest:
            is_number = head in _QUERY_INTEGERS and value.lstrip("-").isdigit()
            params[head] = int(value) if is_number else value
            continue
        index, _, tail = rest.partition(".")
        if index.isdigit():
            groups.setdefault(head, {}).setdefault(int(index), {})[tail] = value
    for head, members in groups.items():
        ordered = [members[i] for i in sorted(members)]
        if head in _QUERY_LISTS:
            params[_QUERY_LISTS[head]] = [m[""] for m in ordered if "" in m]
        elif head == "Attribute":
            params["Attributes"] = {m["Name"]: m.get("Value", "") for m in ordered if "Name" in m}
        elif head == "Tag":
            params["tags"] = {m["Key"]: m.get("Value", "") for m in ordered if "Key" in m}
        elif head == "MessageAttribute":
            params["MessageAttributes"] = {
                m["Name"]: {k.removeprefix("Value."): v for k, v in m.items() if k.startswith("Value.")}
                for m in ordered if "Name" in m}
        elif head in _QUERY_ENTRIES:
            params["Entries"] = [params_from_query(m) for m in ordered]
    return params


def _element(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"<{name}>{str(value).lower()}</{name}>"
    if isinstance(value, Mapping):
        return f"<{name}>{''.join(_element(k, v) for k, v in value.items())}</{name}>"
    return f"<{name}>{escape(str(value))}</{name}>"


def _query_fields(operation: str, answer: Mapping[str, Any]) -> str:
    """An answer's XML: lists repeat their member element, maps become Name/Value pairs."""
    parts: list[str] = []
    for key, value in answer.items():
        if key == "QueueUrls":
            parts.extend(_element("QueueUrl", url) for url in value)
        elif key == "Messages":
            parts.extend(f"<Message>{_query_fields(operation, m)}</Message>" for m in value)
        elif key in ("Attributes", "MessageAttributes"):
            tag = "Attribute" if key == "Attributes" else "MessageAttribute"
            parts.extend(f"<{tag}>{_element('Name', k)}{_element('Value', v)}</{tag}>" for k, v in value.items())
        elif key == "Successful":
            parts.extend(f"<{operation}ResultEntry>{_query_fields(operation, e)}</{operation}ResultEntry>"
                         for e in value)
        elif key == "Failed":
            parts.extend(f"<BatchResultErrorEntry>{_query_fields(operation, e)}</BatchResultErrorEntry>"
                         for e in value)
        else:
            parts.append(_element(key, value))
    return "".join(parts)


def _query_response(operation: str, answer: Mapping[str, Any]) -> Response:
    request_id = str(uuid.uuid4())
    result = "" if operation in _NO_RESULT else \
        f"<{operation}Result>{_query_fields(operation, answer)}</{operation}Result>"
    xml = (f'<?xml version="1.0"?><{operation}Response xmlns="{QUERY_NAMESPACE}">{result}'
           f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>")
    return Response(xml, media_type="text/xml", headers={"x-amzn-RequestId": request_id})


def _query_error(exc: QueueError) -> Response:
    kind = "Receiver" if exc.status >= 500 else "Sender"
    request_id = str(uuid.uuid4())
    xml = (f'<?xml version="1.0"?><ErrorResponse xmlns="{QUERY_NAMESPACE}"><Error><Type>{kind}</Type>'
           f"<Code>{escape(exc.query_code)}</Code><Message>{escape(exc.message)}</Message><Detail/></Error>"
           f"<RequestId>{request_id}</RequestId></ErrorResponse>")
    return Response(xml, status_code=exc.status, media_type="text/xml", headers={"x-amzn-RequestId": request_id})


class SqsQueryService:
    """The same operations over the query protocol (``Version=2012-11-05``)."""

    api_version = "2012-11-05"

    def __init__(self, service: SqsService) -> None:
        self.service = service

    async def handle_query(self, action: str, params: Mapping[str, str], request: Request, body: bytes) -> Response:
        flat = {k: v for k, v in params.items() if k not in ("Action", "Version")}
        answer = await self.service.dispatch(action, params_from_query(flat), request, body)
        return _query_error(answer) if isinstance(answer, QueueError) else _query_response(action, answer)
