"""Cognito's error codes, raised by any operation and turned into the JSON protocol's error shape.

``CognitoError(code, message)``; botocore reads ``__type`` and raises
``client.exceptions.<code>``. The messages are Cognito's own where clients are known to match on them.
"""

from __future__ import annotations


class CognitoError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


BAD_CREDENTIALS = "Incorrect username or password."
ATTEMPTS_EXCEEDED = "Password attempts exceeded"
CODE_LIMIT = "Attempt limit exceeded, please try after some time."
INVALID_SESSION = "Invalid session for the user, session is expired."


def not_authorized(message: str = BAD_CREDENTIALS) -> CognitoError:
    return CognitoError("NotAuthorizedException", message)


def invalid_parameter(message: str) -> CognitoError:
    return CognitoError("InvalidParameterException", message)


def user_not_found() -> CognitoError:
    return CognitoError("UserNotFoundException", "User does not exist.")


def code_mismatch() -> CognitoError:
    return CognitoError("CodeMismatchException", "Invalid verification code provided, please try again.")


def expired_code() -> CognitoError:
    return CognitoError("ExpiredCodeException", "Invalid code provided, please request a code again.")


def code_limit() -> CognitoError:
    return CognitoError("LimitExceededException", CODE_LIMIT)
