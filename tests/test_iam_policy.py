"""The IAM identity-policy evaluator in ``auth.iam``, checked against the behaviour AWS documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auth.iam import (
    AuthorizationRequest,
    Decision,
    Policy,
    PolicyError,
    Principal,
    evaluate,
    parse_policy,
    statement_applies,
)

API = "arn:aws:appsync:eu-west-1:111122223333:apis/abc123"
FIELD = f"{API}/types/Query/fields/listTodos"


def policy(*statements: dict[str, Any], version: str = "2012-10-17", name: str = "test") -> Policy:
    return parse_policy({"Version": version, "Statement": list(statements)}, name=name)


def decide(
    policies: Policy | list[Policy],
    action: str = "appsync:GraphQL",
    resource: str = FIELD,
    context: dict[str, Any] | None = None,
    principal: Principal | None = None,
    time: datetime | None = None,
) -> Decision:
    request = AuthorizationRequest(action, resource, context or {}, principal or Principal(), time)
    return evaluate(policies if isinstance(policies, list) else [policies], request)


def allow(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "*", "Resource": "*", **extra}


def with_condition(condition: dict[str, Any], effect: str = "Allow") -> Policy:
    return policy({"Effect": effect, "Action": "*", "Resource": "*", "Condition": condition})


# ------------------------------------------------------------------------------------------------ decision basics


def test_no_policies_is_an_implicit_deny() -> None:
    decision = decide([])
    assert decision == Decision(False, "implicit_deny")


def test_a_matching_allow_allows_and_names_the_statement() -> None:
    p = policy({"Sid": "Graph", "Effect": "Allow", "Action": "appsync:GraphQL", "Resource": f"{API}/*"}, name="dev")
    decision = decide(p)
    assert decision.allowed
    assert decision.reason == "allow"
    assert decision.statement is not None
    assert (decision.statement.policy, decision.statement.sid, decision.statement.index) == ("dev", "Graph", 0)


def test_an_explicit_deny_beats_an_allow_in_another_policy() -> None:
    allowing = policy(allow(Sid="All"), name="allow-all")
    denying = policy({"Sid": "NoQuery", "Effect": "Deny", "Action": "appsync:*", "Resource": FIELD}, name="deny")
    decision = decide([allowing, denying])
    assert not decision.allowed
    assert decision.reason == "explicit_deny"
    assert decision.statement is not None
    assert (decision.statement.policy, decision.statement.sid) == ("deny", "NoQuery")


def test_statement_may_be_a_single_object_and_elements_single_strings() -> None:
    p = parse_policy(
        json.dumps({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "states:*", "Resource": "*"}})
    )
    assert p.statements[0].actions == ("states:*",)
    assert decide(p, action="states:StartExecution").allowed


# ------------------------------------------------------------------------------------ NotAction / NotResource


def test_not_action_with_allow_allows_everything_except_the_listed_actions() -> None:
    p = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide(p, action="s3:GetObject").allowed
    assert decide(p, action="appsync:GraphQL").allowed
    denied = decide(p, action="iam:CreateUser")
    assert (denied.allowed, denied.reason) == (False, "implicit_deny")


def test_not_action_with_deny_denies_everything_except_the_listed_actions() -> None:
    # AWS's example: deny every action outside IAM, so only IAM actions remain allowed.
    p = policy(allow(), {"Effect": "Deny", "NotAction": "iam:*", "Resource": "*"})
    assert decide(p, action="iam:ListUsers").allowed
    denied = decide(p, action="s3:ListBucket")
    assert (denied.allowed, denied.reason) == (False, "explicit_deny")


def test_not_resource_with_deny_denies_every_other_resource() -> None:
    p = policy(
        allow(),
        {"Effect": "Deny", "Action": "appsync:GraphQL", "NotResource": [f"{API}/types/Query/*"]},
    )
    assert decide(p, resource=FIELD).allowed
    assert decide(p, resource=f"{API}/types/Mutation/fields/deleteTodo").reason == "explicit_deny"


def test_not_resource_with_allow_allows_every_other_resource() -> None:
    p = policy({"Effect": "Allow", "Action": "*", "NotResource": "arn:aws:states:*:*:stateMachine:secret"})
    assert decide(p, action="states:StartExecution", resource="arn:aws:states:eu-west-1:1:stateMachine:open").allowed
    assert not decide(
        p, action="states:StartExecution", resource="arn:aws:states:eu-west-1:1:stateMachine:secret"
    ).allowed


# ------------------------------------------------------------------------------------------------------ wildcards


def test_actions_match_case_insensitively_with_wildcards_including_the_service_prefix() -> None:
    for pattern in ("appsync:Graph*", "APPSYNC:graphql", "appsync:GraphQ?", "app*:*", "*"):
        assert decide(policy({"Effect": "Allow", "Action": pattern, "Resource": "*"})).allowed, pattern
    for pattern in ("appsync:Graph", "appsync:GraphQ?L", "states:*"):
        assert not decide(policy({"Effect": "Allow", "Action": pattern, "Resource": "*"})).allowed, pattern


def test_resources_match_case_sensitively_with_wildcards() -> None:
    assert decide(policy({"Effect": "Allow", "Action": "*", "Resource": f"{API}/types/*/fields/list*"})).allowed
    assert decide(policy({"Effect": "Allow", "Action": "*", "Resource": f"{API}/types/Quer?/fields/*"})).allowed
    assert not decide(policy({"Effect": "Allow", "Action": "*", "Resource": f"{API}/types/query/fields/*"})).allowed


def test_an_arn_wildcard_stays_within_its_colon_separated_part() -> None:
    # "*" in the region part cannot swallow the account part.
    p = policy({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:appsync:*:apis/abc123/*:x"})
    assert not decide(p).allowed
    p2 = policy({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:appsync:*:*:apis/abc123/*"})
    assert decide(p2).allowed
    # A short pattern without all six parts is matched as a whole string.
    assert decide(policy({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:appsync:*"})).allowed


# ---------------------------------------------------------------------------------------------- policy variables

HOME = {
    "Effect": "Allow",
    "Action": ["s3:GetObject", "s3:PutObject"],
    "Resource": "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*",
}


def test_username_variable_gives_each_user_their_home_folder() -> None:
    p = policy(HOME)
    alice = Principal(username="alice")
    assert decide(p, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/notes.txt", principal=alice).allowed
    assert not decide(p, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/notes.txt", principal=alice).allowed


def test_a_variable_value_is_literal_and_never_a_wildcard() -> None:
    p = policy(HOME)
    star = Principal(username="*")
    assert not decide(p, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/x", principal=star).allowed
    assert decide(p, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/*/x", principal=star).allowed


def test_an_unresolved_variable_without_default_makes_the_resource_not_match() -> None:
    p = policy(HOME)
    decision = decide(p, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home//x")
    assert (decision.allowed, decision.reason) == (False, "implicit_deny")
    literal = "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/x"
    assert not decide(p, "s3:GetObject", literal).allowed


def test_a_default_value_is_used_when_the_variable_has_no_value() -> None:
    p = policy(
        {
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::bucket/${aws:PrincipalTag/team, 'company-wide'}/*",
        }
    )
    untagged = Principal(username="carol")
    assert decide(p, "s3:GetObject", "arn:aws:s3:::bucket/company-wide/doc", principal=untagged).allowed
    tagged = Principal(username="dan", tags={"team": "red"})
    assert decide(p, "s3:GetObject", "arn:aws:s3:::bucket/red/doc", principal=tagged).allowed
    assert not decide(p, "s3:GetObject", "arn:aws:s3:::bucket/company-wide/doc", principal=tagged).allowed


def test_default_values_allow_spaces_and_doubled_quotes() -> None:
    p = policy(allow(Condition={"StringEquals": {"app:label": "${ app:missing , 'it''s' }"}}))
    assert decide(p, context={"app:label": "it's"}).allowed


def test_any_context_key_and_principal_attributes_can_be_variables() -> None:
    p = policy(
        {
            "Effect": "Allow",
            "Action": "appsync:GraphQL",
            "Resource": "arn:aws:appsync:${aws:RequestedRegion}:${aws:PrincipalAccount}:apis/*",
            "Condition": {"StringEquals": {"app:owner": "${aws:userid}"}},
        }
    )
    who = Principal(userid="AIDAEXAMPLE", account="111122223333")
    ctx = {"aws:RequestedRegion": "eu-west-1", "app:owner": "AIDAEXAMPLE"}
    assert decide(p, context=ctx, principal=who).allowed
    assert not decide(p, context={**ctx, "app:owner": "someone"}, principal=who).allowed


def test_a_multivalued_key_cannot_be_used_as_a_variable() -> None:
    p = policy(allow(Condition={"StringEquals": {"app:x": "${aws:TagKeys}"}}))
    assert not decide(p, context={"app:x": "a", "aws:TagKeys": ["a", "b"]}).allowed


def test_special_variables_stand_for_literal_star_question_mark_and_dollar() -> None:
    p = policy(allow(Condition={"StringLike": {"app:v": "a${*}b${?}c${$}*"}}))
    assert decide(p, context={"app:v": "a*b?c$anything"}).allowed
    assert not decide(p, context={"app:v": "aXb?c$"}).allowed
    assert not decide(p, context={"app:v": "a*bXc$"}).allowed


def test_variables_are_not_substituted_under_version_2008() -> None:
    p = policy(HOME, version="2008-10-17")
    alice = Principal(username="alice")
    assert not decide(p, "s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/x", principal=alice).allowed
    literal = "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/x"
    assert decide(p, "s3:GetObject", literal, principal=alice).allowed


def test_a_missing_version_means_2008_and_no_variables() -> None:
    p = parse_policy({"Statement": HOME})
    assert p.version == "2008-10-17"
    assert not p.variables_enabled


# ------------------------------------------------------------------------------------------------------ conditions


def test_string_like_matches_wildcards_and_is_case_sensitive() -> None:
    p = with_condition({"StringLike": {"s3:prefix": ["home/", "home/*", "marketing/*"]}})
    assert decide(p, context={"s3:prefix": "marketing/q1"}).allowed
    assert decide(p, context={"s3:prefix": "home/"}).allowed
    assert not decide(p, context={"s3:prefix": "Marketing/q1"}).allowed
    assert not decide(p).allowed  # key missing


def test_string_equals_ignore_case_and_not_equals_ignore_case() -> None:
    assert decide(with_condition({"StringEqualsIgnoreCase": {"app:env": "PROD"}}), context={"app:env": "prod"}).allowed
    assert not decide(
        with_condition({"StringNotEqualsIgnoreCase": {"app:env": "PROD"}}), context={"app:env": "Prod"}
    ).allowed


def test_condition_keys_are_case_insensitive_but_values_are_case_sensitive() -> None:
    p = with_condition({"StringEquals": {"AWS:SourceIdentity": "JohnDoe"}})
    assert decide(p, context={"aws:sourceidentity": "JohnDoe"}).allowed
    assert not decide(p, context={"aws:SourceIdentity": "johndoe"}).allowed


def test_several_values_for_one_key_are_ored() -> None:
    p = with_condition({"StringEquals": {"aws:PrincipalTag/role": ["audit", "security"]}})
    assert decide(p, principal=Principal(tags={"role": "security"})).allowed
    assert not decide(p, principal=Principal(tags={"role": "dev"})).allowed


def test_negated_operators_with_several_values_require_matching_none_of_them() -> None:
    p = with_condition({"StringNotEquals": {"aws:PrincipalTag/role": ["audit", "security"]}})
    assert not decide(p, principal=Principal(tags={"role": "audit"})).allowed
    assert not decide(p, principal=Principal(tags={"role": "security"})).allowed
    assert decide(p, principal=Principal(tags={"role": "dev"})).allowed


def test_a_negated_operator_on_a_missing_key_is_true() -> None:
    assert decide(with_condition({"StringNotEquals": {"app:env": "prod"}})).allowed
    assert decide(with_condition({"StringNotLike": {"app:env": "prod*"}})).allowed
    assert decide(with_condition({"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:*:t"}})).allowed


def test_a_positive_operator_on_a_missing_key_is_false() -> None:
    assert not decide(with_condition({"StringEquals": {"app:env": "prod"}})).allowed
    assert not decide(with_condition({"NumericLessThan": {"app:n": "5"}})).allowed


def test_several_keys_and_several_operators_are_anded() -> None:
    p = with_condition({"StringEquals": {"app:a": "1", "app:b": "2"}, "Bool": {"aws:SecureTransport": "true"}})
    assert decide(p, context={"app:a": "1", "app:b": "2", "aws:SecureTransport": True}).allowed
    assert not decide(p, context={"app:a": "1", "app:b": "2", "aws:SecureTransport": False}).allowed
    assert not decide(p, context={"app:a": "1", "aws:SecureTransport": True}).allowed


def test_string_equals_if_exists_is_true_when_the_key_is_missing() -> None:
    # AWS's example: restrict instance types when the request carries one; requests without it pass.
    p = with_condition({"StringEqualsIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}})
    assert decide(p, action="ec2:RunInstances").allowed
    assert decide(p, action="ec2:RunInstances", context={"ec2:InstanceType": "t2.*"}).allowed
    assert not decide(p, action="ec2:RunInstances", context={"ec2:InstanceType": "m5.large"}).allowed


def test_bool_if_exists_mfa_deny_also_denies_requests_without_the_mfa_key() -> None:
    # AWS: with long-term credentials aws:MultiFactorAuthPresent is absent; ``Bool`` then does not match (the Deny
    # is skipped), while ``BoolIfExists`` evaluates to true when the key is absent, so the Deny applies.
    deny_if_exists = policy(
        allow(),
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
        },
    )
    assert decide(deny_if_exists).reason == "explicit_deny"
    assert decide(deny_if_exists, context={"aws:MultiFactorAuthPresent": "false"}).reason == "explicit_deny"
    assert decide(deny_if_exists, context={"aws:MultiFactorAuthPresent": True}).allowed

    deny_plain = policy(
        allow(),
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": False}},
        },
    )
    assert decide(deny_plain).allowed
    assert decide(deny_plain, context={"aws:MultiFactorAuthPresent": False}).reason == "explicit_deny"


def test_for_all_values_is_true_when_the_key_is_missing_or_empty() -> None:
    # The documented pitfall: ForAllValues with no values in the request is vacuously true.
    p = with_condition({"ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}})
    assert decide(p).allowed
    assert decide(p, context={"aws:TagKeys": []}).allowed
    assert decide(p, context={"aws:TagKeys": ["environment"]}).allowed
    assert decide(p, context={"aws:TagKeys": ["environment", "cost-center"]}).allowed
    assert not decide(p, context={"aws:TagKeys": ["environment", "owner"]}).allowed


def test_for_any_value_is_false_when_the_key_is_missing() -> None:
    p = with_condition({"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}})
    assert not decide(p).allowed
    assert not decide(p, context={"aws:TagKeys": []}).allowed
    assert decide(p, context={"aws:TagKeys": ["owner", "cost-center"]}).allowed
    assert not decide(p, context={"aws:TagKeys": ["owner"]}).allowed
    assert decide(with_condition({"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": "x"}})).allowed


def test_set_operators_negate_per_request_value() -> None:
    p = with_condition({"ForAllValues:StringNotLike": {"aws:TagKeys": "aws:*"}})
    assert decide(p, context={"aws:TagKeys": ["team", "env"]}).allowed
    assert not decide(p, context={"aws:TagKeys": ["team", "aws:x"]}).allowed
    q = with_condition({"ForAnyValue:StringNotEquals": {"aws:TagKeys": "team"}})
    assert decide(q, context={"aws:TagKeys": ["team", "env"]}).allowed
    assert not decide(q, context={"aws:TagKeys": ["team"]}).allowed


def test_null_checks_whether_a_key_is_absent() -> None:
    temporary_only = with_condition({"Null": {"aws:TokenIssueTime": "false"}})
    assert decide(temporary_only, context={"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}).allowed
    assert not decide(temporary_only).allowed
    long_term_only = with_condition({"Null": {"aws:TokenIssueTime": True}})
    assert decide(long_term_only).allowed
    assert not decide(long_term_only, context={"aws:TokenIssueTime": "2024-01-01T00:00:00Z"}).allowed


def test_ip_address_matches_ipv4_and_ipv6_cidr_ranges() -> None:
    p = with_condition({"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8:1234::/48", "198.51.100.7"]}})
    assert decide(p, context={"aws:SourceIp": "203.0.113.45"}).allowed
    assert decide(p, context={"aws:SourceIp": "2001:db8:1234:ffff::1"}).allowed
    assert decide(p, context={"aws:SourceIp": "198.51.100.7"}).allowed
    assert not decide(p, context={"aws:SourceIp": "198.51.100.8"}).allowed
    assert not decide(p, context={"aws:SourceIp": "not-an-ip"}).allowed
    outside = with_condition({"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}})
    assert decide(outside, context={"aws:SourceIp": "192.0.2.1"}).allowed
    assert not decide(outside, context={"aws:SourceIp": "203.0.113.1"}).allowed


def test_date_operators_accept_iso_8601_and_epoch_seconds() -> None:
    window = with_condition(
        {
            "DateGreaterThan": {"aws:CurrentTime": "2020-04-01T00:00:00Z"},
            "DateLessThan": {"aws:CurrentTime": "1593561600"},  # 2020-07-01T00:00:00Z
        }
    )
    assert decide(window, time=datetime(2020, 5, 1, tzinfo=UTC)).allowed
    assert not decide(window, time=datetime(2020, 7, 1, 0, 0, 1, tzinfo=UTC)).allowed
    assert decide(window, context={"aws:CurrentTime": "2020-06-30T23:00:00+00:00"}).allowed
    assert not decide(window, context={"aws:CurrentTime": 1577836800}).allowed  # 2020-01-01
    assert decide(
        with_condition({"DateEquals": {"app:d": "2021-01-01T02:00:00+02:00"}}),
        context={"app:d": "2021-01-01T00:00:00Z"},
    ).allowed
    assert decide(with_condition({"DateNotEquals": {"app:d": "2021-01-01"}}), context={"app:d": "2021-01-02"}).allowed
    assert decide(
        with_condition({"DateLessThanEquals": {"app:d": "2021-01-01"}}), context={"app:d": "2021-01-01"}
    ).allowed
    assert decide(
        with_condition({"DateGreaterThanEquals": {"app:d": "2021-01-01"}}), context={"app:d": "2021-01-01"}
    ).allowed
    assert not decide(with_condition({"DateLessThan": {"app:d": "2021-01-01"}}), context={"app:d": "yesterday"}).allowed


def test_numeric_operators_compare_numbers() -> None:
    cases = [
        ("NumericEquals", "10", 10, True),
        ("NumericEquals", "10", "10.0", True),
        ("NumericNotEquals", "10", 11, True),
        ("NumericLessThan", "10", 9.5, True),
        ("NumericLessThan", "10", 10, False),
        ("NumericLessThanEquals", "10", 10, True),
        ("NumericGreaterThan", "10", "11", True),
        ("NumericGreaterThanEquals", "10", 9, False),
    ]
    for operator, policy_value, request_value, expected in cases:
        p = with_condition({operator: {"s3:max-keys": policy_value}})
        assert decide(p, context={"s3:max-keys": request_value}).allowed is expected, operator


def test_numeric_operators_with_a_non_numeric_request_value_are_false() -> None:
    for operator in ("NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericGreaterThanEquals"):
        p = with_condition({operator: {"s3:max-keys": "10"}})
        assert not decide(p, context={"s3:max-keys": "ten"}).allowed, operator
        assert not decide(p, context={"s3:max-keys": True}).allowed, operator


def test_arn_operators_match_arns_with_wildcards() -> None:
    p = with_condition({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:111122223333:topic-*"}})
    assert decide(p, context={"aws:SourceArn": "arn:aws:sns:eu-west-1:111122223333:topic-a"}).allowed
    assert not decide(p, context={"aws:SourceArn": "arn:aws:sns:eu-west-1:444455556666:topic-a"}).allowed
    equals = with_condition({"ArnEquals": {"aws:SourceArn": "arn:aws:sns:eu-west-1:111122223333:t"}})
    assert decide(equals, context={"aws:SourceArn": "arn:aws:sns:eu-west-1:111122223333:t"}).allowed
    not_equals = with_condition({"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:eu-west-1:111122223333:t"}})
    assert not decide(not_equals, context={"aws:SourceArn": "arn:aws:sns:eu-west-1:111122223333:t"}).allowed


def test_binary_equals_compares_base64_values() -> None:
    p = with_condition({"BinaryEquals": {"app:blob": "QmluYXJ5VmFsdWU="}})
    assert decide(p, context={"app:blob": b"BinaryValue"}).allowed
    assert decide(p, context={"app:blob": "QmluYXJ5VmFsdWU="}).allowed
    assert not decide(p, context={"app:blob": b"other"}).allowed


def test_bool_values_may_come_from_policy_variables() -> None:
    p = with_condition({"Bool": {"app:flag": "${app:expected}"}})
    assert decide(p, context={"app:flag": True, "app:expected": "true"}).allowed
    assert not decide(p, context={"app:flag": True, "app:expected": "false"}).allowed
    assert not decide(p, context={"app:flag": True}).allowed


def test_an_unresolved_variable_in_a_condition_value_matches_nothing() -> None:
    assert not decide(
        with_condition({"StringEquals": {"app:owner": "${aws:username}"}}), context={"app:owner": ""}
    ).allowed
    # Negated: the value matches nothing, so "not equal to any value" holds.
    assert decide(
        with_condition({"StringNotEquals": {"app:owner": "${aws:username}"}}), context={"app:owner": "x"}
    ).allowed


def test_appsync_field_level_policy() -> None:
    p = policy(
        {
            "Sid": "ReadTodos",
            "Effect": "Allow",
            "Action": "appsync:GraphQL",
            "Resource": [f"{API}/types/Query/fields/*", f"{API}/types/Todo/fields/*"],
        },
        {
            "Sid": "NoSecrets",
            "Effect": "Deny",
            "Action": "appsync:GraphQL",
            "Resource": f"{API}/types/Todo/fields/secret",
        },
    )
    assert decide(p, resource=f"{API}/types/Query/fields/getTodo").allowed
    assert decide(p, resource=f"{API}/types/Mutation/fields/addTodo").reason == "implicit_deny"
    decision = decide(p, resource=f"{API}/types/Todo/fields/secret")
    assert decision.reason == "explicit_deny"
    assert decision.statement is not None
    assert decision.statement.sid == "NoSecrets"


# ------------------------------------------------------------------------------------------------ invalid policies


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "syntax error"),
        ("[]", "must be a JSON object"),
        ({"Version": "2012-10-17"}, "must contain a Statement"),
        ({"Version": "2012-10-17", "Statement": []}, "Statement must not be empty"),
        ({"Version": "2020-01-01", "Statement": allow()}, "Version must be"),
        ({"Version": "2012-10-17", "Statement": allow(), "Extra": 1}, "unknown top-level element 'Extra'"),
        ({"Version": "2012-10-17", "Statement": ["x"]}, "Statement[0]: each statement must be a JSON object"),
        ({"Version": "2012-10-17", "Statement": {**allow(), "Effect": "allow"}}, "Statement[0]: Effect must be"),
        (
            {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Resource": "*"}},
            "must contain Action or NotAction",
        ),
        (
            {"Version": "2012-10-17", "Statement": {**allow(), "NotAction": "s3:*"}},
            "must not contain both Action and NotAction",
        ),
        (
            {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*"}},
            "must contain Resource or NotResource",
        ),
        (
            {"Version": "2012-10-17", "Statement": {**allow(), "NotResource": "*"}},
            "must not contain both Resource and NotResource",
        ),
        (
            {"Version": "2012-10-17", "Statement": [allow(), allow(Sid="Bad", Action=[])]},
            "Statement[1] (Sid 'Bad'): Action must not be empty",
        ),
        ({"Version": "2012-10-17", "Statement": allow(Action="GraphQL")}, "<service>:<action>"),
        ({"Version": "2012-10-17", "Statement": allow(Action=["s3:Get", 5])}, "non-empty string"),
        ({"Version": "2012-10-17", "Statement": allow(Resource="bucket/*")}, "must be an ARN"),
        ({"Version": "2012-10-17", "Statement": allow(Principal={"AWS": "*"})}, "must not contain Principal"),
        ({"Version": "2012-10-17", "Statement": allow(Sid="has space")}, "Sid must be"),
        ({"Version": "2012-10-17", "Statement": allow(Bogus=1)}, "unknown element 'Bogus'"),
        (
            {"Version": "2012-10-17", "Statement": allow(Resource="arn:aws:s3:::b/${aws:username")},
            "missing closing brace",
        ),
        ({"Version": "2012-10-17", "Statement": allow(Resource="arn:aws:s3:::b/${}")}, "empty policy variable"),
        ({"Version": "2012-10-17", "Statement": allow(Resource="arn:aws:s3:::b/${a, x}")}, "single quotes"),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"StringEqual": {"a:b": "c"}})},
            "unknown condition operator",
        ),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"ForSomeValues:StringEquals": {"a:b": "c"}})},
            "unknown set operator",
        ),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"NullIfExists": {"a:b": "true"}})},
            "Null cannot be combined",
        ),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"NumericLessThan": {"a:b": "ten"}})},
            "not a valid numeric value",
        ),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"DateLessThan": {"a:b": "soon"}})},
            "not a valid date value",
        ),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"IpAddress": {"a:b": "10.0.0.0/33"}})},
            "not a valid ip value",
        ),
        ({"Version": "2012-10-17", "Statement": allow(Condition={"Bool": {"a:b": "yes"}})}, "not a boolean"),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"BinaryEquals": {"a:b": "***"}})},
            "not a valid binary value",
        ),
        ({"Version": "2012-10-17", "Statement": allow(Condition={"Null": {"a:b": "maybe"}})}, "not a valid null value"),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"StringEquals": {"a:b": []}})},
            "at least one condition value",
        ),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"StringEquals": {"a:b": {"x": 1}}})},
            "must be strings, numbers",
        ),
        (
            {"Version": "2012-10-17", "Statement": allow(Condition={"StringEquals": {"a:b": "1", "A:B": "2"}})},
            "duplicate condition keys",
        ),
        ({"Version": "2012-10-17", "Statement": allow(Condition={"StringEquals": "x"})}, "non-empty object"),
        ({"Version": "2012-10-17", "Statement": allow(Condition=["x"])}, "Condition must be an object"),
    ],
)
def test_invalid_policy_documents_are_rejected_with_a_message_naming_the_problem(document: Any, message: str) -> None:
    with pytest.raises(PolicyError) as excinfo:
        parse_policy(document, name="bad")
    assert message in str(excinfo.value)
    assert "policy 'bad'" in str(excinfo.value)


def test_malformed_variables_are_allowed_as_plain_text_under_version_2008() -> None:
    p = parse_policy({"Version": "2008-10-17", "Statement": allow(Resource="arn:aws:s3:::b/${oops")})
    assert decide(p, resource="arn:aws:s3:::b/${oops").allowed


def test_policy_values_may_be_json_numbers_and_booleans() -> None:
    p = with_condition({"NumericEquals": {"app:n": 3}, "Bool": {"app:b": True}, "StringEquals": {"app:s": 7}})
    assert decide(p, context={"app:n": "3", "app:b": "true", "app:s": "7"}).allowed


# ------------------------------------------------------------------------------------------------ property tests

ACTIONS = ["appsync:GraphQL", "appsync:ListApis", "states:StartExecution", "states:DescribeExecution", "iam:ListUsers"]
ACTION_PATTERNS = [*ACTIONS, "appsync:*", "states:*", "*", "appsync:Graph?L", "STATES:start*", "iam:List*"]
RESOURCES = [FIELD, f"{API}/types/Mutation/fields/add", "arn:aws:states:eu-west-1:111122223333:stateMachine:sm"]
RESOURCE_PATTERNS = [
    *RESOURCES,
    "*",
    f"{API}/*",
    "arn:aws:states:*:*:stateMachine:*",
    "arn:aws:appsync:*:*:apis/${aws:username}/*",
    f"{API}/types/${{aws:PrincipalTag/type, 'Query'}}/fields/*",
]
CONDITIONS: list[dict[str, Any]] = [
    {"StringEquals": {"aws:username": "alice"}},
    {"StringNotEquals": {"aws:username": ["alice", "bob"]}},
    {"StringLike": {"app:env": "prod*"}},
    {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}},
    {"Null": {"app:env": "true"}},
    {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}},
    {"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}},
    {"NumericLessThan": {"app:n": "5"}},
    {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
]


def _one_or_many(pool: list[str]) -> st.SearchStrategy[str | list[str]]:
    return st.one_of(st.sampled_from(pool), st.lists(st.sampled_from(pool), min_size=1, max_size=3))


statement_strategy = st.builds(
    lambda effect, not_action, actions, not_resource, resources, conditions: {
        "Effect": effect,
        "NotAction" if not_action else "Action": actions,
        "NotResource" if not_resource else "Resource": resources,
        **({"Condition": {k: v for c in conditions for k, v in c.items()}} if conditions else {}),
    },
    st.sampled_from(["Allow", "Deny"]),
    st.booleans(),
    _one_or_many(ACTION_PATTERNS),
    st.booleans(),
    _one_or_many(RESOURCE_PATTERNS),
    st.lists(st.sampled_from(CONDITIONS), max_size=2),
)

request_strategy = st.builds(
    lambda action, resource, context, principal: AuthorizationRequest(action, resource, context, principal),
    st.sampled_from(ACTIONS),
    st.sampled_from([*RESOURCES, "arn:aws:appsync:eu-west-1:111122223333:apis/alice/types/Query/fields/f"]),
    st.fixed_dictionaries(
        {},
        optional={
            "app:env": st.sampled_from(["prod", "production", "dev"]),
            "aws:MultiFactorAuthPresent": st.booleans(),
            "aws:TagKeys": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
            "app:n": st.sampled_from(["1", "7", "x"]),
            "aws:SourceIp": st.sampled_from(["10.1.2.3", "192.0.2.1"]),
        },
    ),
    st.builds(
        Principal,
        username=st.sampled_from([None, "alice", "bob", "carol"]),
        tags=st.sampled_from([{}, {"type": "Query"}, {"type": "Mutation"}]),
    ),
)

PROPERTY_SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None)


@PROPERTY_SETTINGS
@given(st.lists(statement_strategy, min_size=1, max_size=6), request_strategy)
def test_property_a_matching_deny_statement_means_the_decision_is_not_allow(
    statements: list[dict[str, Any]], request: AuthorizationRequest
) -> None:
    p = policy(*statements)
    decision = evaluate([p], request)
    if any(s.effect == "Deny" and statement_applies(s, request) for s in p.statements):
        assert not decision.allowed
        assert decision.reason == "explicit_deny"


@PROPERTY_SETTINGS
@given(st.lists(statement_strategy, min_size=1, max_size=6), request_strategy)
def test_property_without_a_matching_allow_statement_the_decision_is_deny(
    statements: list[dict[str, Any]], request: AuthorizationRequest
) -> None:
    p = policy(*statements)
    decision = evaluate([p], request)
    allow_applies = any(s.effect == "Allow" and statement_applies(s, request) for s in p.statements)
    deny_applies = any(s.effect == "Deny" and statement_applies(s, request) for s in p.statements)
    if not allow_applies:
        assert not decision.allowed
    assert decision.allowed == (allow_applies and not deny_applies)


@PROPERTY_SETTINGS
@given(st.lists(statement_strategy, min_size=1, max_size=6), request_strategy, st.randoms(use_true_random=False))
def test_property_evaluation_is_independent_of_statement_and_policy_order(
    statements: list[dict[str, Any]], request: AuthorizationRequest, rnd: Any
) -> None:
    baseline = evaluate([policy(*statements)], request)
    shuffled = list(statements)
    rnd.shuffle(shuffled)
    reordered = evaluate([policy(*shuffled)], request)
    split = [policy(s, name=f"p{i}") for i, s in enumerate(shuffled)]
    rnd.shuffle(split)
    across_policies = evaluate(split, request)
    for other in (reordered, across_policies):
        assert (other.allowed, other.reason) == (baseline.allowed, baseline.reason)
        assert len(other.statements) == len(baseline.statements)
