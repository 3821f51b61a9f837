"""A pure evaluator for AWS IAM identity-based policies (``appsync:GraphQL``, ``states:*``...).

>>> policy = parse_policy('{"Version": "2012-10-17", "Statement": {"Effect": "Allow", '
...                       '"Action": "appsync:GraphQL", "Resource": "*"}}', name="graphql")
>>> evaluate([policy], AuthorizationRequest("appsync:GraphQL", "arn:aws:appsync:eu-west-1:1:apis/a")).allowed
True
"""

from auth.iam.conditions import OPERATORS, Condition
from auth.iam.context import ContextValue, RequestContext
from auth.iam.evaluate import AuthorizationRequest, Decision, MatchedStatement, Principal, evaluate, statement_applies
from auth.iam.policy import VERSION_2008, VERSION_2012, Policy, PolicyError, Statement, parse_policy

__all__ = [
    "OPERATORS",
    "VERSION_2008",
    "VERSION_2012",
    "AuthorizationRequest",
    "Condition",
    "ContextValue",
    "Decision",
    "MatchedStatement",
    "Policy",
    "PolicyError",
    "Principal",
    "RequestContext",
    "Statement",
    "evaluate",
    "parse_policy",
    "statement_applies",
]
