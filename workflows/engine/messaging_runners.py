"""Task runners that send messages: ``arn:aws:states:::sqs:sendMessage`` onto Trellis's own queues
(``workflows.queues``) and ``arn:aws:states:::sns:publish`` to a subscription topic.

Both support ``.waitForTaskToken``: the definition puts ``$$.Task.Token`` into the message, the
runner only sends it and the engine waits for whoever reads the message to answer the token.

Results are what Step Functions' optimized integrations return: the service's response (``MessageId``,
``MD5OfMessageBody``, ...) plus ``SdkHttpMetadata`` and ``SdkResponseMetadata`` as the AWS Java SDK
fills them. Failures are ``SQS.<Exception>`` / ``SNS.<Exception>`` errors whose causes read like the
SDK's: ``<message> (Service: AmazonSQS; Status Code: 400; Error Code: ...; Request ID: ...; Proxy: null)``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from email.utils import formatdate
from typing import Any, Protocol

from workflows.clock import Clock, SystemClock
from workflows.engine.records import JSON, dumps
from workflows.engine.tasks import TaskRegistry, TaskRequest
from workflows.errors import StatesError
from workflows.queue_rules import QueueError, check_message_attributes
from workflows.queues import QueueStore

# Which Parameters each integration passes on; Step Functions drops the others.
SQS_PARAMETERS = ("QueueUrl", "MessageBody", "MessageAttributes", "DelaySeconds", "MessageGroupId",
                  "MessageDeduplicationId")
SNS_PARAMETERS = ("TopicArn", "TargetArn", "Message", "Subject", "MessageAttributes", "MessageStructure",
                  "MessageGroupId", "MessageDeduplicationId", "PhoneNumber")

# The Java SDK's class names for SQS's modeled errors (the JSON shape names differ for a few).
_SQS_EXCEPTIONS = {"QueueDoesNotExist": "QueueDoesNotExistException", "InvalidMessageContents":
                   "InvalidMessageContentsException", "UnsupportedOperation": "UnsupportedOperationException"}


class TopicPublisher(Protocol):
    """Where ``sns:publish`` delivers: Trellis's subscription topics (wired by the app)."""

    async def publish(self, topic_arn: str, message: str, subject: str | None,
                      attributes: Mapping[str, Any]) -> str:
        """Deliver the message; return its message id. Raise ``TopicNotFound`` for an unknown topic."""
        ...


class TopicNotFound(Exception):
    """Raised by a ``TopicPublisher`` for a topic it does not know."""


def sdk_metadata(body_length: int, content_type: str, moment: float) -> dict[str, JSON]:
    """``SdkHttpMetadata`` and ``SdkResponseMetadata`` as Step Functions adds them to a result."""
    request_id = str(uuid.uuid4())
    date = formatdate(moment, usegmt=True)
    headers = {"connection": "keep-alive", "Content-Length": str(body_length), "Content-Type": content_type,
               "Date": date, "x-amzn-RequestId": request_id}
    return {
        "SdkHttpMetadata": {
            "AllHttpHeaders": {name: [value] for name, value in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
    }


def _sdk_cause(message: str, service: str, status: int, code: str) -> str:
    return (f"{message} (Service: {service}; Status Code: {status}; Error Code: {code}; "
            f"Request ID: {uuid.uuid4()}; Proxy: null)")


def _parameters(payload: JSON, names: tuple[str, ...], state: str) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise StatesError("States.Runtime", f"An error occurred while executing the state '{state}'. "
                          "The Parameters of the task must be a JSON object.")
    return {name: payload[name] for name in names if name in payload}


def _text(value: Any) -> Any:
    """A JSON object or array given as the message is sent as its JSON text."""
    return dumps(value) if isinstance(value, dict | list) else value


class SqsSendMessageRunner:
    """``arn:aws:states:::sqs:sendMessage`` onto a Trellis queue named by ``QueueUrl``."""

    patterns = frozenset({"", "waitForTaskToken"})

    def __init__(self, queues: QueueStore) -> None:
        self._queues = queues

    async def run(self, request: TaskRequest) -> JSON:
        params = _parameters(request.payload, SQS_PARAMETERS, request.state_name)
        try:
            name = self._queues.name_from_url(params.get("QueueUrl"))
            sent = await self._queues.send(
                name, _text(params.get("MessageBody")), params.get("MessageAttributes"),
                delay_seconds=params.get("DelaySeconds"), group_id=params.get("MessageGroupId"),
                dedup_id=params.get("MessageDeduplicationId"), sender=_sender(request))
        except QueueError as exc:
            error = _SQS_EXCEPTIONS.get(exc.code, "AmazonSQSException")
            raise StatesError(f"SQS.{error}", _sdk_cause(exc.message, "AmazonSQS", exc.status,
                                                         exc.query_code)) from exc
        response: dict[str, JSON] = {"MD5OfMessageBody": sent.md5_body, "MessageId": sent.message_id}
        if sent.md5_attributes is not None:
            response["MD5OfMessageAttributes"] = sent.md5_attributes
        if sent.sequence_number is not None:
            response["SequenceNumber"] = sent.sequence_number
        body_length = len(json.dumps(response, separators=(",", ":")).encode())
        return {**response, **sdk_metadata(body_length, "application/x-amz-json-1.0", self._queues.clock.now())}


def _sender(request: TaskRequest) -> str:
    # SQS's SenderId is the caller's principal id; the execution's role stands in for it.
    role = request.execution.role_arn.rsplit("/", 1)[-1] if request.execution.role_arn else ""
    return f"AROATRELLIS:{role}" if role else "AIDATRELLISWORKFLOWS"


class SnsPublishRunner:
    """``arn:aws:states:::sns:publish`` through an injected ``TopicPublisher``."""

    patterns = frozenset({"", "waitForTaskToken"})

    def __init__(self, publisher: TopicPublisher, clock: Clock | None = None) -> None:
        self._publisher = publisher
        self._clock: Clock = clock or SystemClock()  # for the result's Date header

    async def run(self, request: TaskRequest) -> JSON:
        params = _parameters(request.payload, SNS_PARAMETERS, request.state_name)
        topic = params.get("TopicArn", params.get("TargetArn"))
        if not isinstance(topic, str) or not topic.startswith("arn:"):
            raise _sns_error("InvalidParameter", "Invalid parameter: TopicArn" if topic is not None else
                             "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
        message = _text(params.get("Message"))
        if not isinstance(message, str) or not message:
            raise _sns_error("InvalidParameter", "Invalid parameter: Message Reason: Empty message")
        subject = params.get("Subject")
        if subject is not None and (not isinstance(subject, str) or not subject or len(subject) > 100):
            raise _sns_error("InvalidParameter", "Invalid parameter: Subject")
        try:
            attributes = check_message_attributes(params.get("MessageAttributes"))
        except QueueError as exc:
            raise _sns_error("InvalidParameter", f"Invalid parameter: MessageAttributes Reason: {exc.message}") \
                from exc
        try:
            message_id = await self._publisher.publish(topic, message, subject, attributes)
        except TopicNotFound as exc:
            raise _sns_error("NotFound", "Topic does not exist", 404) from exc
        return {"MessageId": message_id,
                **sdk_metadata(_publish_xml_length(message_id), "text/xml", self._clock.now())}


def _sns_error(code: str, message: str, status: int = 400) -> StatesError:
    return StatesError(f"SNS.{code}Exception", _sdk_cause(message, "AmazonSNS", status, code))


def _publish_xml_length(message_id: str) -> int:
    """The length of SNS's ``PublishResponse`` document, for the result's Content-Length header."""
    request_id = "00000000-0000-0000-0000-000000000000"
    xml = ('<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">\n  <PublishResult>\n'
           f"    <MessageId>{message_id}</MessageId>\n  </PublishResult>\n  <ResponseMetadata>\n"
           f"    <RequestId>{request_id}</RequestId>\n  </ResponseMetadata>\n</PublishResponse>\n")
    return len(xml.encode())


def register_messaging_runners(registry: TaskRegistry, queues: QueueStore | None,
                               publisher: TopicPublisher | None) -> None:
    """Add ``sqs:sendMessage`` (with a queue store) and ``sns:publish`` (with a publisher)."""
    if queues is not None:
        registry.register("sqs", "sendMessage", SqsSendMessageRunner(queues))
    if publisher is not None:
        registry.register("sns", "publish", SnsPublishRunner(publisher, queues.clock if queues else None))
