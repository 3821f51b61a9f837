"""The Step Functions API for state machines, definitions, tags and auth, through botocore's real
``stepfunctions`` client against a served Trellis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from auth.iam import parse_policy
from auth.iam_authorizer import IamPrincipal, StaticCredentials, administrator
from auth.sigv4 import Credential
from tests.conftest import DEMO_ADMIN
from tests.workflows.api_support import (
    ACCOUNT,
    DATABASES,
    PASS_MACHINE,
    REGION,
    ROLE,
    Served,
    create_machine,
    database_for,
    error_code,
    served_workflows,
)

LISTER = ("AKIATRELLISLISTONLY1", "list-only-secret-list-only-secret-000000")


@pytest.fixture(scope="module", params=DATABASES)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(f"sfn-{request.param}")
    with served_workflows(folder, database_for(request.param, folder)) as app:
        yield app


@pytest.fixture
def sfn(served: Served) -> Any:
    return served.client()


def _name(request: pytest.FixtureRequest, suffix: str = "") -> str:
    return f"{request.node.name[:50]}{suffix}".replace("[", "-").replace("]", "")


def test_a_created_state_machine_is_described_listed_updated_and_deleted(sfn: Any, request: pytest.FixtureRequest
                                                                          ) -> None:
    name = _name(request)
    created = sfn.create_state_machine(name=name, definition=PASS_MACHINE, roleArn=ROLE)
    arn = created["stateMachineArn"]
    assert arn == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert (described["name"], described["status"], described["type"]) == (name, "ACTIVE", "STANDARD")
    assert described["definition"] == PASS_MACHINE and described["roleArn"] == ROLE
    assert described["creationDate"] == created["creationDate"]
    assert described["loggingConfiguration"] == {"level": "OFF", "includeExecutionData": False}
    assert arn in [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]

    new_definition = PASS_MACHINE.replace("world", "there")
    updated = sfn.update_state_machine(stateMachineArn=arn, definition=new_definition,
                                       tracingConfiguration={"enabled": True})
    assert updated["revisionId"]
    after = sfn.describe_state_machine(stateMachineArn=arn)
    assert after["definition"] == new_definition and after["tracingConfiguration"] == {"enabled": True}
    assert after["revisionId"] == updated["revisionId"]

    sfn.delete_state_machine(stateMachineArn=arn)
    with pytest.raises(botocore.exceptions.ClientError) as gone:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert error_code(gone.value) == "StateMachineDoesNotExist"
    assert gone.value.response["Error"]["Message"] == f"State Machine Does Not Exist: '{arn}'"


def test_creating_the_same_state_machine_twice_is_idempotent_but_a_different_one_already_exists(
        sfn: Any, request: pytest.FixtureRequest) -> None:
    name = _name(request)
    first = sfn.create_state_machine(name=name, definition=PASS_MACHINE, roleArn=ROLE)
    again = sfn.create_state_machine(name=name, definition=PASS_MACHINE, roleArn=ROLE)
    assert again["stateMachineArn"] == first["stateMachineArn"]
    assert again["creationDate"] == first["creationDate"]
    reformatted = json.dumps(json.loads(PASS_MACHINE), indent=2)  # AWS compares the text as given
    with pytest.raises(botocore.exceptions.ClientError) as exists:
        sfn.create_state_machine(name=name, definition=reformatted, roleArn=ROLE)
    assert error_code(exists.value) == "StateMachineAlreadyExists"
    assert exists.value.response["Error"]["Message"] == \
        f"State Machine Already Exists: '{first['stateMachineArn']}'"


def test_an_invalid_definition_is_refused_with_aws_message(sfn: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sfn.create_state_machine(name="invalid-definition", definition='{"StartAt": "A"}', roleArn=ROLE)
    assert error_code(refused.value) == "InvalidDefinition"
    assert refused.value.response["Error"]["Message"] == \
        "Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: These fields are required: [States] at /'"


def test_a_task_resource_trellis_cannot_run_fails_validation(sfn: Any) -> None:
    definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun",
                                                   "End": True}}}
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sfn.create_state_machine(name="unsupported-resource", definition=json.dumps(definition), roleArn=ROLE)
    assert error_code(refused.value) == "InvalidDefinition"
    assert "/States/T/Resource" in refused.value.response["Error"]["Message"]


@pytest.mark.parametrize("bad", ["has space", "a<b", "a:b", "a/b", "x" * 81])
def test_a_name_with_forbidden_characters_is_invalid(sfn: Any, bad: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sfn.create_state_machine(name=bad, definition=PASS_MACHINE, roleArn=ROLE)
    assert error_code(refused.value) == "InvalidName"
    assert refused.value.response["Error"]["Message"] == f"Invalid Name: '{bad}'"


def test_arns_of_the_wrong_shape_or_type_are_invalid_arns(sfn: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as malformed:
        sfn.describe_state_machine(stateMachineArn="not-an-arn")
    assert error_code(malformed.value) == "InvalidArn"
    activity = f"arn:aws:states:{REGION}:{ACCOUNT}:activity:a"
    with pytest.raises(botocore.exceptions.ClientError) as wrong_type:
        sfn.describe_state_machine(stateMachineArn=activity)
    assert wrong_type.value.response["Error"]["Message"] == \
        "Invalid Arn: 'Resource type not valid in this context: activity'"


def test_an_update_that_changes_nothing_is_a_missing_parameter(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = create_machine(sfn, _name(request))
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sfn.update_state_machine(stateMachineArn=arn)
    assert error_code(refused.value) == "MissingRequiredParameter"


def test_an_update_to_an_invalid_definition_leaves_the_machine_as_it_was(sfn: Any, request: pytest.FixtureRequest
                                                                        ) -> None:
    arn = create_machine(sfn, _name(request))
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sfn.update_state_machine(stateMachineArn=arn, definition='{"StartAt": "Nowhere", "States": {}}')
    assert error_code(refused.value) == "InvalidDefinition"
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == PASS_MACHINE


def test_state_machines_are_listed_in_pages(served: Served, tmp_path: Path) -> None:
    sfn = served.client()
    for index in range(5):
        create_machine(sfn, f"paged-{index}")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = sfn.list_state_machines(maxResults=2, **({"nextToken": token} if token else {}))
        assert len(page["stateMachines"]) <= 2
        seen.extend(m["name"] for m in page["stateMachines"])
        pages += 1
        token = page.get("nextToken")
        if token is None:
            break
    assert [name for name in seen if name.startswith("paged-")] == [f"paged-{i}" for i in range(5)]
    assert len(seen) == len(set(seen)) and pages >= 3
    with pytest.raises(botocore.exceptions.ClientError) as too_many:
        sfn.list_state_machines(maxResults=1001)
    assert too_many.value.response["Error"]["Message"] == ("1 validation error detected: Value '1001' at "
                                                           "'maxResults' failed to satisfy constraint: Member must "
                                                           "have value less than or equal to 1000")


def test_validate_state_machine_definition_reports_ok_or_the_diagnostics(sfn: Any) -> None:
    valid = sfn.validate_state_machine_definition(definition=PASS_MACHINE)
    assert (valid["result"], valid["diagnostics"], valid["truncated"]) == ("OK", [], False)
    broken = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}
    answer = sfn.validate_state_machine_definition(definition=json.dumps(broken))
    assert answer["result"] == "FAIL"
    assert {(d["severity"], d["code"], d.get("location")) for d in answer["diagnostics"]} >= {
        ("ERROR", "MISSING_TRANSITION_TARGET", "/States/A/Next")}
    express_callback = {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "double"}, "End": True}}}
    assert sfn.validate_state_machine_definition(definition=json.dumps(express_callback))["result"] == "OK"
    assert sfn.validate_state_machine_definition(definition=json.dumps(express_callback),
                                                 type="EXPRESS")["result"] == "FAIL"


def test_tags_are_kept_on_the_state_machine(sfn: Any, request: pytest.FixtureRequest) -> None:
    arn = sfn.create_state_machine(name=_name(request), definition=PASS_MACHINE, roleArn=ROLE,
                                   tags=[{"key": "team", "value": "ops"}])["stateMachineArn"]
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "team", "value": "ops"}]
    sfn.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "prod"}, {"key": "team", "value": "dev"}])
    assert sorted((t["key"], t["value"]) for t in sfn.list_tags_for_resource(resourceArn=arn)["tags"]) == [
        ("env", "prod"), ("team", "dev")]
    sfn.untag_resource(resourceArn=arn, tagKeys=["team"])
    assert sfn.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "env", "value": "prod"}]
    with pytest.raises(botocore.exceptions.ClientError) as missing:
        sfn.list_tags_for_resource(resourceArn=f"{arn}-gone")
    assert error_code(missing.value) == "ResourceNotFound"


# -- auth fails closed -------------------------------------------------------------------------------------


def test_an_unsigned_request_is_refused(served: Served) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        served.client(signed_with=None).list_state_machines()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error_code(refused.value) in ("MissingAuthenticationTokenException", "IncompleteSignatureException")


def test_a_request_signed_with_the_wrong_secret_is_refused(served: Served) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        served.client(signed_with=(DEMO_ADMIN[0], "not-the-secret-not-the-secret-00000000")).list_state_machines()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error_code(refused.value) == "InvalidSignatureException"


def test_a_request_signed_with_an_unknown_key_or_region_is_refused(served: Served) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as unknown:
        served.client(signed_with=("AKIANOBODYKNOWSTHIS1", "x" * 40)).list_state_machines()
    assert unknown.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(botocore.exceptions.ClientError) as elsewhere:
        served.client(region="eu-west-3").list_state_machines()
    assert elsewhere.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_caller_without_the_states_permission_is_denied(served: Served, request: pytest.FixtureRequest) -> None:
    service = next(s for s in served.runtime.json_services if s.target_prefix == "AWSStepFunctions")
    policy = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "states:ListStateMachines", "Resource": "*"}]}, name="ListOnly")
    lister = IamPrincipal(user_name="lister", user_id="AIDALISTER", arn=f"arn:aws:iam::{ACCOUNT}:user/lister",
                          account=ACCOUNT, policies=(policy,))
    original = service.gate.gate.lookup
    service.gate.gate.lookup = StaticCredentials({
        LISTER[0]: Credential(LISTER[0], LISTER[1], None, lister),
        DEMO_ADMIN[0]: administrator(DEMO_ADMIN[0], DEMO_ADMIN[1], ACCOUNT)})
    try:
        limited = served.client(signed_with=LISTER)
        assert "stateMachines" in limited.list_state_machines()
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            limited.create_state_machine(name=_name(request), definition=PASS_MACHINE, roleArn=ROLE)
        assert error_code(denied.value) == "AccessDeniedException"
        assert "states:CreateStateMachine" in denied.value.response["Error"]["Message"]
        assert "stateMachine:" in denied.value.response["Error"]["Message"]
    finally:
        service.gate.gate.lookup = original
    names = [m["name"] for m in served.client().list_state_machines(maxResults=1000)["stateMachines"]]
    assert _name(request) not in names


BUILDER = ("AKIATRELLISBUILDER01", "builder-secret-builder-secret-builder00")


def test_giving_a_state_machine_a_role_needs_iam_pass_role_on_it(served: Served, request: pytest.FixtureRequest
                                                                  ) -> None:
    service = next(s for s in served.runtime.json_services if s.target_prefix == "AWSStepFunctions")
    other_role = f"arn:aws:iam::{ACCOUNT}:role/powerful"
    policy = parse_policy({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "states:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
         "Condition": {"StringEquals": {"iam:PassedToService": "states.amazonaws.com"}}}]}, name="Builder")
    builder = IamPrincipal(user_name="builder", user_id="AIDABUILDER", arn=f"arn:aws:iam::{ACCOUNT}:user/builder",
                           account=ACCOUNT, policies=(policy,))
    original = service.gate.gate.lookup
    service.gate.gate.lookup = StaticCredentials({BUILDER[0]: Credential(BUILDER[0], BUILDER[1], None, builder)})
    try:
        sfn = served.client(signed_with=BUILDER)
        with pytest.raises(botocore.exceptions.ClientError) as denied:
            sfn.create_state_machine(name=_name(request, "-x"), definition=PASS_MACHINE, roleArn=other_role)
        assert error_code(denied.value) == "AccessDeniedException"
        assert f"iam:PassRole on resource: {other_role}" in denied.value.response["Error"]["Message"]
        arn = sfn.create_state_machine(name=_name(request), definition=PASS_MACHINE, roleArn=ROLE)["stateMachineArn"]
        with pytest.raises(botocore.exceptions.ClientError) as swapped:
            sfn.update_state_machine(stateMachineArn=arn, roleArn=other_role)
        assert error_code(swapped.value) == "AccessDeniedException"
        sfn.update_state_machine(stateMachineArn=arn, definition=PASS_MACHINE)  # no role given: no PassRole needed
        assert sfn.describe_state_machine(stateMachineArn=arn)["roleArn"] == ROLE
        with pytest.raises(botocore.exceptions.ClientError) as tested:  # TestState runs with the role it names
            sfn.test_state(definition=json.dumps({"Type": "Pass", "End": True}), roleArn=other_role, input="{}")
        assert error_code(tested.value) == "AccessDeniedException"
        assert sfn.test_state(definition=json.dumps({"Type": "Pass", "End": True}), roleArn=ROLE,
                              input="{}")["status"] == "SUCCEEDED"
    finally:
        service.gate.gate.lookup = original


def _signed_post(served: Served, target: str, body: bytes) -> httpx.Response:
    request = AWSRequest(method="POST", url=served.base + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target})
    SigV4Auth(Credentials(*DEMO_ADMIN), "states", REGION).add_auth(request)
    return httpx.post(served.base + "/", content=body, headers=dict(request.headers.items()))


def test_an_unknown_operation_is_an_unknown_operation_exception(served: Served) -> None:
    answer = _signed_post(served, "AWSStepFunctions.LaunchRockets", b"{}")
    assert answer.status_code == 400
    assert answer.json()["__type"] == "UnknownOperationException"
    unsigned = httpx.post(served.base + "/", content=b"{}", headers={"X-Amz-Target": "AWSStepFunctions.LaunchRockets",
                                                                     "Content-Type": "application/x-amz-json-1.0"})
    assert unsigned.status_code == 403  # auth comes first, even for operations that do not exist


def test_a_body_that_is_not_json_is_a_serialization_error(served: Served) -> None:
    answer = _signed_post(served, "AWSStepFunctions.ListStateMachines", b"[not json")
    assert answer.status_code == 400
    assert answer.json()["__type"] == "SerializationException"


def test_workflows_options_are_checked_with_every_problem_reported(tmp_path: Path) -> None:
    from app.errors import ConfigError
    from app.runtime import build
    from app.settings import load_settings

    (tmp_path / "schema.graphql").write_text("type Query { hello: String }\n")
    (tmp_path / "trellis.toml").write_text('[workflows]\nlease_seconds = -1\naccount_id = "12"\nspeed = "fast"\n'
                                           '[workflows.http]\nallow_plain_http = "yes"\n')
    settings = load_settings(tmp_path / "schema.graphql", environ={}, data_dir=tmp_path / ".trellis")
    with pytest.raises(ConfigError) as problems:
        build(settings)
    messages = " | ".join(problem.message for problem in problems.value.problems)
    for fragment in ("lease_seconds must be a positive number", "account_id must be 12 digits",
                     "unknown option 'speed'", "http.allow_plain_http has the wrong type"):
        assert fragment in messages


async def test_without_a_workflows_table_there_is_no_engine_and_no_step_functions_api(tmp_path: Path) -> None:
    from app.runtime import build
    from app.settings import load_settings

    (tmp_path / "schema.graphql").write_text("type Query { hello: String }\n")
    runtime = build(load_settings(tmp_path / "schema.graphql", environ={}, data_dir=tmp_path / ".trellis"))
    assert runtime.workflows is None
    assert all(service.target_prefix != "AWSStepFunctions" for service in runtime.json_services)
    await runtime.close()


async def test_a_workflows_database_url_gives_the_engine_its_own_database(tmp_path: Path) -> None:
    from app.runtime import build
    from app.settings import load_settings
    from workflows.engine.records import StateMachine

    own = tmp_path / "engine.db"
    (tmp_path / "schema.graphql").write_text("type Query { hello: String }\n")
    (tmp_path / "trellis.toml").write_text(f'[workflows]\ndatabase_url = "sqlite+aiosqlite:///{own}"\n'
                                           'instance_id = "instance-a"\nlease_seconds = 5\n')
    runtime = build(load_settings(tmp_path / "schema.graphql", environ={}, data_dir=tmp_path / ".trellis",
                                  database_url=f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"))
    await runtime.start()
    try:
        engine = runtime.workflows
        assert engine is not None and engine.store.db is not runtime.database
        assert (engine.options.instance_id, engine.options.lease_seconds) == ("instance-a", 5.0)
        machine = StateMachine(arn=engine.arn("stateMachine", "own"), name="own", type="STANDARD",
                               definition=PASS_MACHINE, role_arn=ROLE, status="ACTIVE", created=0, updated=0,
                               revision_id="r")
        await engine.store.create_state_machine(machine)
    finally:
        await runtime.close()
    assert own.exists() and b"sfn_state_machines" in own.read_bytes()
