"""IAM identity-policy documents: parsing and validation.

``parse_policy`` accepts JSON text or an already-decoded mapping and returns an immutable :class:`Policy`, or raises
:class:`PolicyError` naming the offending statement and element (the counterpart of AWS's
``MalformedPolicyDocument``). Policy variables and condition values are parsed here, once, so evaluation never fails
on the policy's account.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from auth.iam.conditions import Condition, ConditionError, parse_condition_block
from auth.iam.variables import Template, TemplateError, parse_template

__all__ = ["VERSION_2008", "VERSION_2012", "Effect", "Policy", "PolicyError", "Statement", "parse_policy"]

VERSION_2012 = "2012-10-17"
VERSION_2008 = "2008-10-17"
Effect = Literal["Allow", "Deny"]

_TOP_LEVEL = {"Version", "Id", "Statement"}
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
_SID_RE = re.compile(r"[A-Za-z0-9]*")
_ACTION_RE = re.compile(r"[A-Za-z0-9*?-]+:[^\s:]+")


class PolicyError(ValueError):
    """The document is not a valid identity policy (AWS: ``MalformedPolicyDocument``)."""


@dataclass(frozen=True, slots=True)
class Statement:
    index: int
    sid: str | None
    effect: Effect
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[Template, ...]
    not_resource: bool
    conditions: tuple[Condition, ...]

    @property
    def label(self) -> str:
        return f"Statement[{self.index}]" + (f" (Sid {self.sid!r})" if self.sid else "")


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    version: str
    statements: tuple[Statement, ...]
    id: str | None = None

    @property
    def variables_enabled(self) -> bool:
        return self.version == VERSION_2012


def _string_list(statement: Mapping[str, object], key: str, label: str) -> list[str]:
    raw = statement[key]
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise PolicyError(f"{label}: {key} must not be empty")
    for item in items:
        if not isinstance(item, str) or not item:
            raise PolicyError(f"{label}: {key} must be a non-empty string or a list of non-empty strings")
    return [item for item in items if isinstance(item, str)]


def _exactly_one(statement: Mapping[str, object], a: str, b: str, label: str) -> str:
    present = [k for k in (a, b) if k in statement]
    if not present:
        raise PolicyError(f"{label}: the statement must contain {a} or {b}")
    if len(present) == 2:
        raise PolicyError(f"{label}: the statement must not contain both {a} and {b}")
    return present[0]


def _parse_statement(raw: object, index: int, variables: bool) -> Statement:
    label = f"Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise PolicyError(f"{label}: each statement must be a JSON object")
    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str) or not _SID_RE.fullmatch(sid):
            raise PolicyError(f"{label}: Sid must be a string of ASCII letters and digits")
        label += f" (Sid {sid!r})"
    for key in raw:
        if key in ("Principal", "NotPrincipal"):
            raise PolicyError(f"{label}: identity-based policies must not contain {key}")
        if key not in _STATEMENT_KEYS:
            raise PolicyError(f"{label}: unknown element {key!r}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f'{label}: Effect must be "Allow" or "Deny", got {effect!r}')

    action_key = _exactly_one(raw, "Action", "NotAction", label)
    actions = _string_list(raw, action_key, label)
    for action in actions:
        if action != "*" and not _ACTION_RE.fullmatch(action):
            raise PolicyError(f'{label}: {action_key} {action!r} must be "*" or "<service>:<action>"')

    resource_key = _exactly_one(raw, "Resource", "NotResource", label)
    resources: list[Template] = []
    for resource in _string_list(raw, resource_key, label):
        if resource != "*" and not resource.startswith("arn:"):
            raise PolicyError(f'{label}: {resource_key} {resource!r} must be an ARN or "*"')
        try:
            resources.append(parse_template(resource, variables=variables))
        except TemplateError as exc:
            raise PolicyError(f"{label}: {resource_key}: {exc}") from exc

    conditions: tuple[Condition, ...] = ()
    if "Condition" in raw:
        try:
            conditions = parse_condition_block(raw["Condition"], variables=variables)
        except ConditionError as exc:
            raise PolicyError(f"{label}: Condition: {exc}") from exc

    return Statement(
        index=index,
        sid=sid,
        effect="Allow" if effect == "Allow" else "Deny",
        actions=tuple(actions),
        not_action=action_key == "NotAction",
        resources=tuple(resources),
        not_resource=resource_key == "NotResource",
        conditions=conditions,
    )


def parse_policy(document: str | bytes | Mapping[str, object], name: str = "inline") -> Policy:
    """Parse and validate an identity-based policy document."""
    if isinstance(document, str | bytes):
        try:
            decoded = json.loads(document)
        except ValueError as exc:
            raise PolicyError(f"policy {name!r}: syntax error in policy JSON: {exc}") from exc
    else:
        decoded = document
    if not isinstance(decoded, Mapping):
        raise PolicyError(f"policy {name!r}: the policy must be a JSON object")
    try:
        for key in decoded:
            if key not in _TOP_LEVEL:
                raise PolicyError(f"unknown top-level element {key!r}")
        version = decoded.get("Version", VERSION_2008)
        if version not in (VERSION_2012, VERSION_2008):
            raise PolicyError(f"Version must be {VERSION_2012!r} or {VERSION_2008!r}, got {version!r}")
        policy_id = decoded.get("Id")
        if policy_id is not None and not isinstance(policy_id, str):
            raise PolicyError("Id must be a string")
        if "Statement" not in decoded:
            raise PolicyError("the policy must contain a Statement")
        raw_statements = decoded["Statement"]
        items = raw_statements if isinstance(raw_statements, list) else [raw_statements]
        if not items:
            raise PolicyError("Statement must not be empty")
        statements = tuple(_parse_statement(item, index, version == VERSION_2012) for index, item in enumerate(items))
    except PolicyError as exc:
        raise PolicyError(f"policy {name!r}: {exc}") from exc
    return Policy(name=name, version=str(version), statements=statements, id=policy_id)
