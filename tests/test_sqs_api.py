"""The SQS-compatible API through botocore's real ``sqs`` client (awsJson1_0) against a real Trellis
server: queue management, the message lifecycle, AWS's error codes, and SigV4 + IAM fail-closed."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import botocore.session
import httpx
import pytest
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from app.cli import main
from app.runtime import build
from app.server import create_app
from app.settings import load_settings
from app.sqs_setup import attach_sqs
from tests.test_jwt_verifier import free_port
from tests.workflows.test_queues import parked_event
from workflows.queue_rules import md5_of_attributes
from workflows.queues import QueueStore

ACCOUNT = "123456789012"
REGION = "eu-west-1"
ADMIN = ("AKIATRELLISADMIN0001", "admin-secret-admin-secret-admin-secret00")
SCHEMA = "type Query @aws_iam { hello: String }\n"


def hello(ctx: Any) -> str:
    return "hi"


@functools.cache
def _botocore_session() -> Any:
    return botocore.session.get_session()


@dataclass
class Server:
    base: str
    folder: Path
    queues: QueueStore

    def client(self, key: tuple[str, str] = ADMIN, **config: Any) -> Any:
        return _botocore_session().create_client(
            "sqs", endpoint_url=self.base, region_name=REGION, aws_access_key_id=key[0],
            aws_secret_access_key=key[1], config=Config(retries={"max_attempts": 0}, **config))

    async def call(self, operation: str, key: tuple[str, str] = ADMIN, validate: bool = True,
                   **params: Any) -> dict[str, Any]:
        client = self.client(key, parameter_validation=validate)
        try:
            answer: dict[str, Any] = await asyncio.to_thread(getattr(client, operation), **params)
            return answer
        finally:
            client.close()

    async def error(self, operation: str, key: tuple[str, str] = ADMIN, **params: Any) -> dict[str, Any]:
        with pytest.raises(ClientError) as caught:
            await self.call(operation, key, validate=False, **params)
        error: dict[str, Any] = caught.value.response["Error"]
        return error

    def iam(self, *args: str) -> None:
        assert main(["iam", *args, "--schema", str(self.folder / "schema.graphql")]) == 0


@pytest.fixture
async def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Server]:
    monkeypatch.delenv("TRELLIS_SECRET", raising=False)
    monkeypatch.delenv("TRELLIS_DATA_DIR", raising=False)
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "trellis.toml").write_text(
        f'[auth]\ndefault = "AWS_IAM"\n[auth.iam]\nregion = "{REGION}"\naccount_id = "{ACCOUNT}"\n'
        f'api_id = "demo"\n[resolvers."Query.hello"]\nhandler = "tests.test_sqs_api:hello"\n')
    settings = load_settings(tmp_path / "schema.graphql", environ={},
                             database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}", admin_access_key=ADMIN)
    runtime = build(settings)
    queues = attach_sqs(runtime)
    app = create_app(settings, runtime)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none"))
    task = asyncio.create_task(uv.serve())
    for _ in range(1000):
        if uv.started:
            break
        await asyncio.sleep(0.01)
    assert uv.started
    served = Server(f"http://127.0.0.1:{port}", tmp_path, queues)
    iam = runtime.authenticator.authorizers[0]
    iam.lookup.store.check_interval = 0  # type: ignore[attr-defined]  # see CLI changes at once
    yield served
    uv.should_exit = True
    await task


async def test_queues_are_created_found_listed_and_deleted(server: Server) -> None:
    url = (await server.call("create_queue", QueueName="orders"))["QueueUrl"]
    assert url == f"{server.base}/{ACCOUNT}/orders"
    assert (await server.call("create_queue", QueueName="orders"))["QueueUrl"] == url  # idempotent
    await server.call("create_queue", QueueName="invoices", Attributes={"VisibilityTimeout": "5"})
    assert (await server.call("get_queue_url", QueueName="orders"))["QueueUrl"] == url
    listed = await server.call("list_queues")
    assert listed["QueueUrls"] == [f"{server.base}/{ACCOUNT}/invoices", url]
    assert (await server.call("list_queues", QueueNamePrefix="ord"))["QueueUrls"] == [url]
    first = await server.call("list_queues", MaxResults=1)
    assert first["QueueUrls"] == [f"{server.base}/{ACCOUNT}/invoices"]
    second = await server.call("list_queues", MaxResults=1, NextToken=first["NextToken"])
    assert second["QueueUrls"] == [url] and "NextToken" not in second
    await server.call("delete_queue", QueueUrl=url)
    error = await server.error("get_queue_url", QueueName="orders")
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"
    assert error["QueryErrorCode"] == "QueueDoesNotExist"
    assert error["Message"] == "The specified queue does not exist."


async def test_a_missing_queue_raises_the_modeled_queue_does_not_exist_exception(server: Server) -> None:
    client = server.client()
    try:
        with pytest.raises(client.exceptions.QueueDoesNotExist):
            await asyncio.to_thread(client.send_message, QueueUrl=f"{server.base}/{ACCOUNT}/nope", MessageBody="x")
    finally:
        client.close()


async def test_a_queue_created_again_with_other_attributes_is_refused(server: Server) -> None:
    await server.call("create_queue", QueueName="orders", Attributes={"VisibilityTimeout": "5"})
    error = await server.error("create_queue", QueueName="orders", Attributes={"VisibilityTimeout": "6"})
    assert error["Code"] == "QueueAlreadyExists"
    assert (await server.error("create_queue", QueueName="bad name"))["Code"] == "InvalidParameterValue"
    assert (await server.error("create_queue", QueueName="q", Attributes={"Nope": "1"}))["Code"] \
        == "InvalidAttributeName"


async def test_a_message_is_sent_received_hidden_and_deleted(server: Server) -> None:
    url = (await server.call("create_queue", QueueName="orders"))["QueueUrl"]
    attributes: dict[str, Any] = {"kind": {"DataType": "String", "StringValue": "order"},
                  "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}
    sent = await server.call("send_message", QueueUrl=url, MessageBody="héllo", MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode(), usedforsecurity=False).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(
        {"kind": attributes["kind"], "blob": {"DataType": "Binary", "BinaryValue": "AAE="}})
    received = await server.call("receive_message", QueueUrl=url, MessageAttributeNames=["All"],
                                 MessageSystemAttributeNames=["ApproximateReceiveCount", "SenderId"])
    [message] = received["Messages"]
    assert message["MessageId"] == sent["MessageId"] and message["Body"] == "héllo"
    assert message["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert message["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01"
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"] == {"ApproximateReceiveCount": "1", "SenderId": "AIDATRELLISADMIN"}
    assert "Messages" not in await server.call("receive_message", QueueUrl=url)  # in flight: hidden
    counts = await server.call("get_queue_attributes", QueueUrl=url, AttributeNames=["All"])
    assert counts["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert counts["Attributes"]["QueueArn"] == f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"
    await server.call("delete_message", QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    counts = await server.call("get_queue_attributes", QueueUrl=url,
                               AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
    assert counts["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


async def test_changing_visibility_to_zero_makes_a_message_receivable_again(server: Server) -> None:
    url = (await server.call("create_queue", QueueName="orders"))["QueueUrl"]
    await server.call("send_message", QueueUrl=url, MessageBody="again")
    first = (await server.call("receive_message", QueueUrl=url))["Messages"][0]
    await server.call("change_message_visibility", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"],
                      VisibilityTimeout=0)
    second = (await server.call("receive_message", QueueUrl=url, MessageSystemAttributeNames=["All"]))["Messages"][0]
    assert second["MessageId"] == first["MessageId"] and second["ReceiptHandle"] != first["ReceiptHandle"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    # the older receipt handle no longer deletes it (accepted, as SQS does)
    await server.call("delete_message", QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    attributes = await server.call("get_queue_attributes", QueueUrl=url,
                                   AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"


async def test_bad_receipt_handles_and_parameters_get_aws_error_codes(server: Server) -> None:
    url = (await server.call("create_queue", QueueName="orders"))["QueueUrl"]
    error = await server.error("delete_message", QueueUrl=url, ReceiptHandle="garbage")
    assert error["Code"] == "ReceiptHandleIsInvalid"
    assert error["Message"] == 'The input receipt handle "garbage" is not a valid receipt handle.'
    error = await server.error("receive_message", QueueUrl=url, MaxNumberOfMessages=11)
    assert error["Code"] == "InvalidParameterValue"
    assert error["Message"] == ("Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 "
                                "and 10, if provided.")
    assert (await server.error("receive_message", QueueUrl=url, WaitTimeSeconds=21))["Code"] \
        == "InvalidParameterValue"
    assert (await server.error("send_message", QueueUrl=url, MessageBody=""))["Code"] == "MissingParameter"
    assert (await server.error("get_queue_attributes", QueueUrl=url, AttributeNames=["Nope"]))["Code"] \
        == "InvalidAttributeName"


async def test_batches_report_each_entry_and_refuse_bad_batches(server: Server) -> None:
    url = (await server.call("create_queue", QueueName="orders"))["QueueUrl"]
    sent = await server.call("send_message_batch", QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two", "DelaySeconds": 901},
        {"Id": "c", "MessageBody": "three"}])
    assert [s["Id"] for s in sent["Successful"]] == ["a", "c"]
    assert sent["Failed"][0]["Id"] == "b" and sent["Failed"][0]["Code"] == "InvalidParameterValue"
    assert sent["Failed"][0]["SenderFault"] is True
    received = (await server.call("receive_message", QueueUrl=url, MaxNumberOfMessages=10))["Messages"]
    assert [m["Body"] for m in received] == ["one", "three"]
    deleted = await server.call("delete_message_batch", QueueUrl=url, Entries=[
        {"Id": "x", "ReceiptHandle": received[0]["ReceiptHandle"]}, {"Id": "y", "ReceiptHandle": "bad"}])
    assert deleted["Successful"] == [{"Id": "x"}]
    assert deleted["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    too_many = [{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)]
    assert (await server.error("send_message_batch", QueueUrl=url, Entries=too_many))["Code"] \
        == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    twice = [{"Id": "m", "MessageBody": "x"}, {"Id": "m", "MessageBody": "y"}]
    error = await server.error("send_message_batch", QueueUrl=url, Entries=twice)
    assert error["Code"] == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    assert error["QueryErrorCode"] == "BatchEntryIdsNotDistinct"
    assert (await server.error("send_message_batch", QueueUrl=url, Entries=[]))["Code"] \
        == "AWS.SimpleQueueService.EmptyBatchRequest"


async def test_a_long_poll_returns_as_soon_as_a_message_arrives(server: Server,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    url = (await server.call("create_queue", QueueName="orders"))["QueueUrl"]
    parked = parked_event(server.queues, monkeypatch)
    polling = asyncio.create_task(server.call("receive_message", QueueUrl=url, WaitTimeSeconds=20))
    await asyncio.wait_for(parked.wait(), 15)  # the poll found nothing and waits
    await server.call("send_message", QueueUrl=url, MessageBody="wake up")
    received = await asyncio.wait_for(polling, 15)
    assert received["Messages"][0]["Body"] == "wake up"


async def test_fifo_queues_keep_group_order_and_drop_duplicates(server: Server) -> None:
    url = (await server.call("create_queue", QueueName="jobs.fifo",
                             Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}))["QueueUrl"]
    first = await server.call("send_message", QueueUrl=url, MessageBody="one", MessageGroupId="g")
    duplicate = await server.call("send_message", QueueUrl=url, MessageBody="one", MessageGroupId="g")
    assert duplicate["MessageId"] == first["MessageId"] and first["SequenceNumber"]
    await server.call("send_message", QueueUrl=url, MessageBody="two", MessageGroupId="g")
    head = (await server.call("receive_message", QueueUrl=url))["Messages"]
    assert [m["Body"] for m in head] == ["one"]
    assert "Messages" not in await server.call("receive_message", QueueUrl=url)  # the group waits for "one"
    await server.call("delete_message", QueueUrl=url, ReceiptHandle=head[0]["ReceiptHandle"])
    assert [m["Body"] for m in (await server.call("receive_message", QueueUrl=url))["Messages"]] == ["two"]
    assert (await server.error("send_message", QueueUrl=url, MessageBody="x"))["Code"] == "MissingParameter"
    attributes = (await server.call("get_queue_attributes", QueueUrl=url, AttributeNames=["All"]))["Attributes"]
    assert attributes["FifoQueue"] == "true" and attributes["ContentBasedDeduplication"] == "true"


async def test_attributes_are_set_and_a_queue_is_purged_once_a_minute(server: Server) -> None:
    url = (await server.call("create_queue", QueueName="orders"))["QueueUrl"]
    await server.call("set_queue_attributes", QueueUrl=url, Attributes={"DelaySeconds": "10"})
    attributes = await server.call("get_queue_attributes", QueueUrl=url, AttributeNames=["DelaySeconds"])
    assert attributes["Attributes"] == {"DelaySeconds": "10"}
    assert (await server.error("set_queue_attributes", QueueUrl=url, Attributes={"DelaySeconds": "901"}))["Code"] \
        == "InvalidAttributeValue"
    await server.call("send_message", QueueUrl=url, MessageBody="delayed")
    delayed = await server.call("get_queue_attributes", QueueUrl=url,
                                AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    await server.call("purge_queue", QueueUrl=url)
    delayed = await server.call("get_queue_attributes", QueueUrl=url,
                                AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "0"
    assert (await server.error("purge_queue", QueueUrl=url))["Code"] == "AWS.SimpleQueueService.PurgeQueueInProgress"


async def test_calls_need_a_valid_signature_and_an_allowing_policy(server: Server, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    url = (await server.call("create_queue", QueueName="orders"))["QueueUrl"]
    await server.call("create_queue", QueueName="secret")
    assert (await server.error("list_queues", ("AKIAUNKNOWN000000000", "x" * 40)))["Code"] == "InvalidClientTokenId"
    assert (await server.error("list_queues", (ADMIN[0], "x" * 40)))["Code"] == "SignatureDoesNotMatch"

    server.iam("user", "create", "worker")
    capsys.readouterr()
    assert main(["iam", "access-key", "create", "worker", "--schema", str(server.folder / "schema.graphql")]) == 0
    key_id, secret = capsys.readouterr().out.split()
    worker = (key_id, secret)
    error = await server.error("send_message", worker, QueueUrl=url, MessageBody="x")
    assert error["Code"] == "AccessDenied"
    assert "is not authorized to perform: sqs:SendMessage on resource: " \
           f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders" in error["Message"]

    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage"],
                                                      "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"}]}
    (tmp_path / "p.json").write_text(json.dumps(policy))
    server.iam("policy", "put", "--user", "worker", "--name", "send", "--document", str(tmp_path / "p.json"))
    assert (await server.call("send_message", worker, QueueUrl=url, MessageBody="x"))["MessageId"]
    batch = await server.call("send_message_batch", worker, QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "y"}])
    assert batch["Successful"][0]["Id"] == "a"  # batches need the single-message action
    secret_url = f"{server.base}/{ACCOUNT}/secret"
    assert (await server.error("send_message", worker, QueueUrl=secret_url, MessageBody="x"))["Code"] \
        == "AccessDenied"
    assert (await server.error("receive_message", worker, QueueUrl=url))["Code"] == "AccessDenied"


async def query(server: Server, params: dict[str, str], key: tuple[str, str] = ADMIN) -> tuple[int, ElementTree.Element]:
    """A query-protocol call (``Action=...&Version=2012-11-05``), signed as older SDKs sign it."""
    body = urlencode({**params, "Version": "2012-11-05"})
    request = AWSRequest(method="POST", url=f"{server.base}/", data=body,
                         headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials(*key), "sqs", REGION).add_auth(request)
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{server.base}/", content=body, headers=dict(request.headers.items()))
    assert response.headers["content-type"].startswith("text/xml")
    return response.status_code, ElementTree.fromstring(response.text)  # noqa: S314 - our own server


def text(root: ElementTree.Element, path: str) -> list[str]:
    namespace = {"q": "http://queue.amazonaws.com/doc/2012-11-05/"}
    return [element.text or "" for element in root.findall(path, namespace)]


async def test_older_sdks_query_protocol_reaches_the_same_queues(server: Server) -> None:
    status, root = await query(server, {"Action": "CreateQueue", "QueueName": "legacy",
                                        "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "7"})
    assert status == 200
    [url] = text(root, "q:CreateQueueResult/q:QueueUrl")
    assert url == f"{server.base}/{ACCOUNT}/legacy"
    status, root = await query(server, {
        "Action": "SendMessage", "QueueUrl": url, "MessageBody": "old school",
        "MessageAttribute.1.Name": "kind", "MessageAttribute.1.Value.DataType": "String",
        "MessageAttribute.1.Value.StringValue": "legacy"})
    [message_id] = text(root, "q:SendMessageResult/q:MessageId")
    [digest] = text(root, "q:SendMessageResult/q:MD5OfMessageAttributes")
    assert digest == md5_of_attributes({"kind": {"DataType": "String", "StringValue": "legacy"}})
    # a JSON client sees the same message
    received = await server.call("receive_message", QueueUrl=url, MessageAttributeNames=["All"],
                                 VisibilityTimeout=0)
    assert received["Messages"][0]["MessageId"] == message_id
    status, root = await query(server, {"Action": "ReceiveMessage", "QueueUrl": url, "AttributeName.1": "All",
                                        "MessageAttributeName.1": "All", "MaxNumberOfMessages": "5"})
    assert text(root, "q:ReceiveMessageResult/q:Message/q:Body") == ["old school"]
    names = text(root, "q:ReceiveMessageResult/q:Message/q:Attribute/q:Name")
    assert "ApproximateReceiveCount" in names
    assert text(root, "q:ReceiveMessageResult/q:Message/q:MessageAttribute/q:Value/q:StringValue") == ["legacy"]
    [handle] = text(root, "q:ReceiveMessageResult/q:Message/q:ReceiptHandle")
    status, root = await query(server, {"Action": "DeleteMessageBatch", "QueueUrl": url,
                                        "DeleteMessageBatchRequestEntry.1.Id": "a",
                                        "DeleteMessageBatchRequestEntry.1.ReceiptHandle": handle,
                                        "DeleteMessageBatchRequestEntry.2.Id": "b",
                                        "DeleteMessageBatchRequestEntry.2.ReceiptHandle": "bad"})
    assert text(root, "q:DeleteMessageBatchResult/q:DeleteMessageBatchResultEntry/q:Id") == ["a"]
    assert text(root, "q:DeleteMessageBatchResult/q:BatchResultErrorEntry/q:Code") == ["ReceiptHandleIsInvalid"]
    status, root = await query(server, {"Action": "GetQueueAttributes", "QueueUrl": url,
                                        "AttributeName.1": "VisibilityTimeout"})
    assert text(root, "q:GetQueueAttributesResult/q:Attribute/q:Value") == ["7"]

    status, root = await query(server, {"Action": "GetQueueUrl", "QueueName": "nope"})
    assert status == 400
    assert text(root, "q:Error/q:Code") == ["AWS.SimpleQueueService.NonExistentQueue"]
    status, root = await query(server, {"Action": "ListQueues"}, ("AKIAUNKNOWN000000000", "x" * 40))
    assert status == 403 and text(root, "q:Error/q:Code") == ["InvalidClientTokenId"]
