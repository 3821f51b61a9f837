"""Encoded authorization messages: why IAM refused a request, sealed so only STS can read it.

A field IAM denies carries ``encodedAuthorizationMessage`` in its error's ``errorInfo`` (as AWS
APIs return one with ``AccessDenied``); ``sts:DecodeAuthorizationMessage`` opens it for a caller
allowed to see the reason: the principal, action, resource, matched statements and context.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from auth.secretbox import SecretBox

_MESSAGE_AAD = "authorization-message:v1"


def encode_denial(box: SecretBox, *, principal_arn: str, principal_id: str, action: str, resource: str,
                  explicit_deny: bool, matched: Sequence[Mapping[str, Any]] = (),
                  context: Mapping[str, Any] | None = None) -> str:
    """An ``encodedAuthorizationMessage`` for a denied request; ``DecodeAuthorizationMessage`` opens it."""
    message = {
        "allowed": False,
        "explicitDeny": explicit_deny,
        "matchedStatements": {"items": list(matched)},
        "failures": {"items": []},
        "context": {
            "principal": {"id": principal_id, "arn": principal_arn},
            "action": action,
            "resource": resource,
            "conditions": {"items": [{"key": k, "values": {"items": [{"value": str(v)}]}}
                                     for k, v in sorted((context or {}).items())]},
        },
    }
    return box.seal(json.dumps(message, separators=(",", ":")).encode(), _MESSAGE_AAD)


def decode_denial(box: SecretBox, encoded: str) -> str:
    return box.open(encoded, _MESSAGE_AAD).decode()
