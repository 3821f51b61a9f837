"""The ``sqs:sendMessage`` and ``sns:publish`` task runners, called with a ``TaskRequest``; then a
whole execution that hands its task token out through a queue and waits for it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from datasources.sql import open_database
from workflows.clock import ManualClock
from workflows.engine.messaging_runners import (
    SnsPublishRunner,
    SqsSendMessageRunner,
    TopicNotFound,
    register_messaging_runners,
)
from workflows.engine.tasks import TaskRegistry, TaskRequest, parse_resource
from workflows.errors import StatesError
from workflows.language.interpreter import ExecutionInfo
from workflows.queues import QueueStore

ACCOUNT = "123456789012"
QUEUE_URL = f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/orders"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:orders"
EXECUTION = ExecutionInfo(
    execution_arn=f"arn:aws:states:us-east-1:{ACCOUNT}:execution:orders:run-1",
    name="run-1",
    input={},
    start_time=0.0,
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/sfn",
    state_machine_arn=f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:orders",
    state_machine_name="orders",
)


def task(resource_arn: str, payload: Any, token: str | None = None) -> TaskRequest:
    resource = parse_resource(resource_arn)
    assert resource is not None
    return TaskRequest(resource=resource, payload=payload, execution=EXECUTION, state_name="Send", task_token=token)


@pytest.fixture
async def queues(tmp_path: Path) -> AsyncIterator[QueueStore]:
    db = open_database(f"sqlite+aiosqlite:///{tmp_path / 'q.db'}")
    store = QueueStore(db, ManualClock(), account_id=ACCOUNT)
    await store.create_queue("orders")
    yield store
    await db.close()


class Topics:
    """A ``TopicPublisher`` that records what it is given and knows one topic."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, str | None, Mapping[str, Any]]] = []

    async def publish(self, topic_arn: str, message: str, subject: str | None, attributes: Mapping[str, Any]) -> str:
        if topic_arn != TOPIC:
            raise TopicNotFound(topic_arn)
        self.published.append((topic_arn, message, subject, attributes))
        return f"msg-{len(self.published)}"


async def failure(runner: Any, request: TaskRequest) -> StatesError:
    with pytest.raises(StatesError) as caught:
        await runner.run(request)
    return caught.value


async def test_send_message_puts_the_body_on_the_queue_and_answers_like_aws(queues: QueueStore) -> None:
    runner = SqsSendMessageRunner(queues)
    result = await runner.run(task("arn:aws:states:::sqs:sendMessage",
                                   {"QueueUrl": QUEUE_URL, "MessageBody": "test_message_body"}))
    assert isinstance(result, dict)
    assert result["MD5OfMessageBody"] == hashlib.md5(b"test_message_body", usedforsecurity=False).hexdigest()
    http = result["SdkHttpMetadata"]
    assert http["HttpStatusCode"] == 200
    assert http["HttpHeaders"]["Content-Length"] == "106"  # what AWS's recorded histories show
    assert http["HttpHeaders"]["Content-Type"] == "application/x-amz-json-1.0"
    assert http["AllHttpHeaders"]["x-amzn-RequestId"] == [result["SdkResponseMetadata"]["RequestId"]]
    [message] = await queues.receive("orders")
    assert message.message_id == result["MessageId"] and message.body == "test_message_body"


async def test_an_object_body_is_sent_as_json_text_and_attributes_are_digested(queues: QueueStore) -> None:
    runner = SqsSendMessageRunner(queues)
    attributes = {"my_attribute_no_1": {"DataType": "String", "StringValue": "Hello"}}
    result = await runner.run(task("arn:aws:states:::sqs:sendMessage", {
        "QueueUrl": QUEUE_URL, "MessageBody": {"order": 1, "items": ["a"]}, "MessageAttributes": attributes,
        "MessageSystemAttribute": {"AWSTraceHeader": "dropped, as Step Functions drops it"}}))
    assert isinstance(result, dict) and "MD5OfMessageAttributes" in result
    assert result["SdkHttpMetadata"]["HttpHeaders"]["Content-Length"] == "166"
    [message] = await queues.receive("orders", attribute_names=["All"])
    assert json.loads(message.body) == {"order": 1, "items": ["a"]}
    assert message.body == '{"order":1,"items":["a"]}'
    assert message.message_attributes == attributes


async def test_wait_for_task_token_sends_the_token_the_definition_put_in_the_body(queues: QueueStore) -> None:
    runner = SqsSendMessageRunner(queues)
    request = task("arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                   {"QueueUrl": QUEUE_URL, "MessageBody": {"token": "tok-1"}}, token="tok-1")
    await runner.run(request)
    [message] = await queues.receive("orders")
    assert json.loads(message.body)["token"] == "tok-1"


async def test_a_missing_queue_fails_with_the_sdks_error_and_cause(queues: QueueStore) -> None:
    runner = SqsSendMessageRunner(queues)
    error = await failure(runner, task("arn:aws:states:::sqs:sendMessage", {
        "QueueUrl": f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/missing", "MessageBody": "x"}))
    assert error.error == "SQS.QueueDoesNotExistException"
    assert error.cause is not None
    assert error.cause.startswith("The specified queue does not exist. (Service: AmazonSQS; Status Code: 400; "
                                  "Error Code: AWS.SimpleQueueService.NonExistentQueue; Request ID: ")
    assert error.cause.endswith("; Proxy: null)")
    error = await failure(runner, task("arn:aws:states:::sqs:sendMessage", {"QueueUrl": QUEUE_URL, "MessageBody": ""}))
    assert error.error == "SQS.AmazonSQSException"
    assert error.cause is not None and "Error Code: MissingParameter" in error.cause


async def test_fifo_sends_return_a_sequence_number(queues: QueueStore) -> None:
    await queues.create_queue("jobs.fifo", {"FifoQueue": "true"})
    runner = SqsSendMessageRunner(queues)
    result = await runner.run(task("arn:aws:states:::sqs:sendMessage", {
        "QueueUrl": f"http://127.0.0.1:8000/{ACCOUNT}/jobs.fifo", "MessageBody": "x",
        "MessageGroupId": "g", "MessageDeduplicationId": "d"}))
    assert isinstance(result, dict) and result["SequenceNumber"].isdigit()


async def test_publish_hands_the_message_to_the_topic_publisher() -> None:
    topics = Topics()
    runner = SnsPublishRunner(topics, ManualClock())
    attributes = {"kind": {"DataType": "String", "StringValue": "order"}}
    result = await runner.run(task("arn:aws:states:::sns:publish", {
        "TopicArn": TOPIC, "Message": {"order": 1}, "Subject": "New order", "MessageAttributes": attributes}))
    assert isinstance(result, dict) and result["MessageId"] == "msg-1"
    assert result["SdkHttpMetadata"]["HttpHeaders"]["Content-Type"] == "text/xml"
    assert topics.published == [(TOPIC, '{"order":1}', "New order", attributes)]


async def test_publish_failures_are_sns_errors() -> None:
    runner = SnsPublishRunner(Topics(), ManualClock())
    error = await failure(runner, task("arn:aws:states:::sns:publish", {"TopicArn": TOPIC + "-gone", "Message": "x"}))
    assert error.error == "SNS.NotFoundException"
    assert error.cause is not None and error.cause.startswith(
        "Topic does not exist (Service: AmazonSNS; Status Code: 404; Error Code: NotFound; Request ID: ")
    error = await failure(runner, task("arn:aws:states:::sns:publish", {"Message": "x"}))
    assert error.error == "SNS.InvalidParameterException"
    error = await failure(runner, task("arn:aws:states:::sns:publish", {"TopicArn": TOPIC, "Message": ""}))
    assert error.error == "SNS.InvalidParameterException"
    assert error.cause is not None and error.cause.startswith("Invalid parameter: Message Reason: Empty message")


def test_the_registry_knows_both_integrations_and_their_patterns(queues: QueueStore) -> None:
    registry = TaskRegistry()
    register_messaging_runners(registry, queues, Topics())
    for arn in ("arn:aws:states:::sqs:sendMessage", "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "arn:aws:states:::sns:publish", "arn:aws:states:::sns:publish.waitForTaskToken"):
        assert registry.supports(arn), arn
    assert not registry.supports("arn:aws:states:::sqs:sendMessage.sync")
    assert not registry.supports("arn:aws:states:::sqs:receiveMessage")


async def test_an_execution_waits_for_the_token_it_sent_through_a_queue(tmp_path: Path) -> None:
    from tests.workflows.engine_support import Harness, finished, machine

    harness = Harness(f"sqlite+aiosqlite:///{tmp_path / 'e.db'}")
    try:
        engine = await harness.engine()
        queues = QueueStore(harness.databases[0], account_id=engine.options.account_id)
        await queues.create_queue("approvals")
        register_messaging_runners(engine.registry, queues, None)
        url = f"http://127.0.0.1:8000/{engine.options.account_id}/approvals"
        definition = {"StartAt": "Ask", "States": {"Ask": {
            "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True,
            "Parameters": {"QueueUrl": url, "MessageBody": {"order.$": "$.order", "token.$": "$$.Task.Token"}}}}}
        record = await machine(engine, "approve", definition)
        execution = await engine.start_execution(record, "run-1", '{"order": 7}')
        # a long poll on the same store: the runner's send wakes it
        received = await queues.receive("approvals", wait_seconds=20)
        [message] = received
        body = json.loads(message.body)
        assert body["order"] == 7
        await engine.complete_token(body["token"], {"output": {"approved": True}})
        done = await finished(engine, execution.arn)
        assert done.status == "SUCCEEDED" and json.loads(done.output) == {"approved": True}
    finally:
        await harness.close()
