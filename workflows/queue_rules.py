"""SQS's message and queue rules, apart from storage: errors in SQS's shapes, the records the store
hands out, MD5 digests SDKs check, and the checks on names, attributes, bodies and receipt handles."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEDUP_SECONDS = 300.0
PURGE_INTERVAL = 60.0
MAX_MESSAGE_ATTRIBUTES = 10
DEFAULT_SENDER = "AIDATRELLISWORKFLOWS"

# Attribute -> (low, high, default) for the numeric settable attributes.
NUMERIC_ATTRIBUTES: dict[str, tuple[int, int, int]] = {
    "DelaySeconds": (0, 900, 0),
    "MaximumMessageSize": (1024, 262144, 262144),
    "MessageRetentionPeriod": (60, 1209600, 345600),
    "ReceiveMessageWaitTimeSeconds": (0, 20, 0),
    "VisibilityTimeout": (0, 43200, 30),
}
FREE_ATTRIBUTES = frozenset({"Policy", "RedrivePolicy", "RedriveAllowPolicy", "KmsMasterKeyId",
                             "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"})
FIFO_ATTRIBUTES = frozenset({"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"})
COMPUTED_ATTRIBUTES = ("QueueArn", "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                       "ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp")
SYSTEM_ATTRIBUTES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp",
                     "MessageGroupId", "MessageDeduplicationId", "SequenceNumber", "AWSTraceHeader")

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,75}\.fifo$")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
DEDUP_OR_GROUP = re.compile(r"^[!-~]{1,128}$")  # printable ASCII, no spaces
# XML 1.0's characters: what SQS accepts in a body or a string attribute.
_INVALID_CHARACTER = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class QueueError(Exception):
    """An SQS error: ``code`` is the JSON shape name, ``query_code`` the legacy query error code."""

    def __init__(self, code: str, message: str, query_code: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.query_code = query_code or code
        self.status = status


def queue_not_found() -> QueueError:
    return QueueError("QueueDoesNotExist", "The specified queue does not exist.",
                      "AWS.SimpleQueueService.NonExistentQueue")


def invalid_parameter(message: str) -> QueueError:
    return QueueError("InvalidParameterValueException", message, "InvalidParameterValue")


def missing_parameter(name: str) -> QueueError:
    return QueueError("MissingParameter", f"The request must contain the parameter {name}.", "MissingParameter")


def invalid_receipt(handle: str) -> QueueError:
    return QueueError("ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is not a valid receipt handle.',
                      "ReceiptHandleIsInvalid")


def out_of_range(name: str, value: object, low: int, high: int) -> QueueError:
    return invalid_parameter(f"Value {value} for parameter {name} is invalid. "
                             f"Reason: Must be >= {low} and <= {high}, if provided.")


@dataclass(frozen=True)
class QueueRecord:
    name: str
    attributes: Mapping[str, str]   # the attributes set at creation or since
    created: float
    modified: float

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")

    def number(self, attribute: str) -> int:
        return int(self.attributes.get(attribute, NUMERIC_ATTRIBUTES[attribute][2]))

    @property
    def content_based_deduplication(self) -> bool:
        return self.attributes.get("ContentBasedDeduplication", "false") == "true"

    @property
    def redrive(self) -> tuple[str, int] | None:
        """(dead-letter queue name, maxReceiveCount) from ``RedrivePolicy``."""
        text = self.attributes.get("RedrivePolicy")
        if not text:
            return None
        policy = json.loads(text)
        return str(policy["deadLetterTargetArn"]).rsplit(":", 1)[-1], int(policy["maxReceiveCount"])


@dataclass(frozen=True)
class SentMessage:
    message_id: str
    md5_body: str
    md5_attributes: str | None = None
    sequence_number: str | None = None


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    md5_body: str
    system_attributes: Mapping[str, str]
    message_attributes: Mapping[str, Any]
    md5_attributes: str | None


# -- checks and digests ---------------------------------------------------------------------------------


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, Mapping[str, Any]]) -> str | None:
    """SQS's digest of message attributes (what SDKs check): for each attribute in name order, the
    length-prefixed name, data type, a transport byte (1 string, 2 binary) and length-prefixed value."""
    if not attributes:
        return None
    digest = hashlib.md5(usedforsecurity=False)

    def chunk(data: bytes) -> None:
        digest.update(struct.pack(">I", len(data)) + data)

    for name in sorted(attributes):
        value = attributes[name]
        chunk(name.encode("utf-8"))
        chunk(str(value["DataType"]).encode("utf-8"))
        if "BinaryValue" in value and value.get("BinaryValue") is not None:
            digest.update(b"\x02")
            chunk(_binary(value["BinaryValue"]))
        else:
            digest.update(b"\x01")
            chunk(str(value["StringValue"]).encode("utf-8"))
    return digest.hexdigest()


def _binary(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error as exc:
        raise invalid_parameter("Message (user) attribute binary value is not valid base64.") from exc


def check_message_attributes(attributes: Any) -> dict[str, dict[str, Any]]:
    """The attributes as stored (BinaryValue as base64 text), or ``InvalidParameterValue``."""
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise invalid_parameter("MessageAttributes must be a map of attribute name to value.")
    if len(attributes) > MAX_MESSAGE_ATTRIBUTES:
        raise invalid_parameter(f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum "
                                f"[{MAX_MESSAGE_ATTRIBUTES}].")
    checked: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        if (not isinstance(name, str) or not _ATTRIBUTE_NAME.match(name) or ".." in name
                or name.startswith(".") or name.endswith(".") or name.lower().startswith(("aws.", "amazon."))):
            raise invalid_parameter(f"Message (user) attribute name '{name}' is invalid.")
        if not isinstance(value, Mapping) or not isinstance(value.get("DataType"), str) or not value["DataType"]:
            raise invalid_parameter(f"The message attribute '{name}' must contain a non-empty message attribute type.")
        data_type = value["DataType"]
        base = data_type.split(".", 1)[0]
        if base not in ("String", "Number", "Binary"):
            raise invalid_parameter(f"The type of message (user) attribute '{name}' is invalid. You must use only "
                                    "the following supported type prefixes: Binary, Number, String.")
        if base == "Binary":
            raw = value.get("BinaryValue")
            if raw is None or raw == "":
                raise invalid_parameter(f"The message attribute '{name}' with type 'Binary' must use field "
                                        "'Binary'.")
            encoded = raw if isinstance(raw, str) else base64.b64encode(bytes(raw)).decode("ascii")
            _binary(encoded)
            checked[name] = {"DataType": data_type, "BinaryValue": encoded}
            continue
        text = value.get("StringValue")
        if not isinstance(text, str) or text == "":
            raise invalid_parameter(f"The message attribute '{name}' must contain non-empty message attribute "
                                    f"value for message attribute type '{base}'.")
        if base == "Number" and not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
            raise invalid_parameter(f"Can't cast the value of message (user) attribute '{name}' to a number.")
        if _INVALID_CHARACTER.search(text):
            raise invalid_parameter(f"Message (user) attribute '{name}' value contains invalid characters.")
        checked[name] = {"DataType": data_type, "StringValue": text}
    return checked


def attributes_size(attributes: Mapping[str, Mapping[str, Any]]) -> int:
    size = 0
    for name, value in attributes.items():
        size += len(name.encode()) + len(str(value["DataType"]).encode())
        size += len(_binary(value["BinaryValue"])) if "BinaryValue" in value else len(value["StringValue"].encode())
    return size


def check_body(body: Any) -> str:
    if body is None or body == "":
        raise missing_parameter("MessageBody")
    if not isinstance(body, str):
        raise invalid_parameter("MessageBody must be a string.")
    if _INVALID_CHARACTER.search(body):
        raise invalid_parameter("Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
                                "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")
    return body


def check_queue_name(name: Any, fifo: bool) -> str:
    if not isinstance(name, str) or not name:
        raise missing_parameter("QueueName")
    if fifo or name.endswith(".fifo"):
        if not _FIFO_NAME.match(name) or not fifo:
            raise invalid_parameter("The name of a FIFO queue can only include alphanumeric characters, hyphens, "
                                    "or underscores, must end with .fifo suffix and be 1 to 80 in length.")
    elif not _QUEUE_NAME.match(name):
        raise invalid_parameter("Can only include alphanumeric characters, hyphens, or underscores. "
                                "1 to 80 in length")
    return name


def _check_attribute(name: str, given: Any, fifo: bool) -> str:
    value: str = given if isinstance(given, str) else json.dumps(given) if isinstance(given, Mapping) else str(given)
    if name in NUMERIC_ATTRIBUTES:
        low, high, _default = NUMERIC_ATTRIBUTES[name]
        if not re.fullmatch(r"\d{1,10}", value) or not low <= int(value) <= high:
            raise QueueError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
        return str(int(value))
    if name in ("FifoQueue", "ContentBasedDeduplication", "SqsManagedSseEnabled"):
        if value.lower() not in ("true", "false"):
            raise QueueError("InvalidAttributeValue", f"Invalid value for the parameter {name}.")
        return value.lower()
    if name == "RedrivePolicy" and value:
        try:
            policy = json.loads(value)
            count = int(policy["maxReceiveCount"])
            target = str(policy["deadLetterTargetArn"])
        except (ValueError, KeyError, TypeError) as exc:
            raise QueueError("InvalidAttributeValue", "Invalid value for the parameter RedrivePolicy. Reason: "
                             "Redrive policy is not a valid JSON map.") from exc
        if not 1 <= count <= 1000 or not target.startswith("arn:aws:sqs:"):
            raise QueueError("InvalidAttributeValue", "Invalid value for the parameter RedrivePolicy. Reason: "
                             "Value of maxReceiveCount must be between 1 and 1000 and the target an SQS queue ARN.")
        if target.endswith(".fifo") != fifo:
            raise QueueError("InvalidAttributeValue", "Invalid value for the parameter RedrivePolicy. Reason: "
                             "Dead-letter queue must be same type of queue as the source.")
    return value


def check_attributes(attributes: Any, fifo: bool) -> dict[str, str]:
    """Settable queue attributes, validated and normalised to SQS's string values."""
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise invalid_parameter("Attributes must be a map of attribute name to value.")
    checked: dict[str, str] = {}
    for name, value in attributes.items():
        known = name in NUMERIC_ATTRIBUTES or name in FREE_ATTRIBUTES or (fifo and name in FIFO_ATTRIBUTES)
        if not known and not (name == "FifoQueue" and str(value).lower() == "false"):
            raise QueueError("InvalidAttributeName", f"Unknown Attribute {name}.")
        checked[name] = _check_attribute(name, value, fifo)
    checked.pop("FifoQueue", None)  # the name says it: ".fifo" queues are FIFO
    return checked


def receipt_handle(queue: str, message_id: str) -> str:
    raw = f"{queue}\n{message_id}\n{secrets.token_urlsafe(24)}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def parse_receipt(handle: Any, queue: str) -> str:
    """The message id of a receipt handle issued for ``queue``, else ``ReceiptHandleIsInvalid``."""
    if not isinstance(handle, str) or not handle:
        raise missing_parameter("ReceiptHandle")
    try:
        parts = base64.urlsafe_b64decode(handle.encode("ascii")).decode("utf-8").split("\n")
    except (ValueError, UnicodeError):
        parts = []
    if len(parts) != 3 or parts[0] != queue:
        raise invalid_receipt(handle)
    return parts[1]


def timestamp_ms(moment: float) -> str:
    return str(int(moment * 1000))


def chosen_names(names: Iterable[str], candidates: Iterable[str]) -> list[str]:
    """``MessageAttributeNames`` filtering: exact names, ``All``, ``.*`` and ``prefix.*``."""
    selectors = list(names)
    chosen = []
    for candidate in candidates:
        for selector in selectors:
            if selector in ("All", ".*") or selector == candidate or (
                    selector.endswith(".*") and candidate.startswith(selector[:-1])):
                chosen.append(candidate)
                break
    return chosen
