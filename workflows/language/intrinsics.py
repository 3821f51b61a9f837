"""The 18 intrinsic functions (``States.Format`` … ``States.UUID``), nested, with AWS's argument
checks; failures raise ``EvaluationError(States.IntrinsicFailure | States.Runtime, detail)``.
OWNER: expressions helper (JSONPath mode).

A path argument that matches nothing is ``States.Runtime`` with the same text as a missing path in
Parameters; a bad argument (wrong count, type or range) is ``States.IntrinsicFailure``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Sequence

from workflows.errors import INTRINSIC_FAILURE, RUNTIME, EvaluationError
from workflows.language import jsontext
from workflows.language.env import JSON, Env
from workflows.language.intrinsic_syntax import (
    Argument,
    Call,
    IntrinsicSyntaxError,
    Literal,
    PathArgument,
    looks_like_call,
    parse,
)
from workflows.language.java_random import JavaRandom
from workflows.language.jsonpath import PathNotFound, is_number, json_equal, root_value, select

MAX_STRING_LENGTH = 10_000     # Base64Encode/Base64Decode/Hash input limit (AWS docs)
MAX_RANGE_ITEMS = 1000         # ArrayRange result limit (AWS docs)
_INT32 = (-(2**31), 2**31 - 1)
_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def is_intrinsic(text: str) -> bool:
    return isinstance(text, str) and looks_like_call(text)


def evaluate(expression: str, env: Env, field: str | None = None) -> JSON:
    """The value of ``expression``; ``field`` (e.g. ``"value.$"``) names where it appears, for
    AWS's missing-path message."""
    try:
        call = parse(expression)
    except IntrinsicSyntaxError as error:
        raise EvaluationError(INTRINSIC_FAILURE, f"Invalid intrinsic function expression: {error}") from error
    return _Evaluator(env, field).call(call)


def missing_path_detail(path: str, env: Env, field: str | None) -> str:
    """AWS's text for a path that matched nothing, quoting what the path was applied to."""
    try:
        searched = root_value(path, env)
    except PathNotFound:
        searched = env.input
    where = f" specified for the field '{field}'" if field else ""
    return f"The JSONPath '{path}'{where} could not be found in the input '{jsontext.dumps(searched)}'"


class _Evaluator:
    def __init__(self, env: Env, field: str | None) -> None:
        self.env = env
        self.field = field

    def call(self, call: Call) -> JSON:
        function = _FUNCTIONS.get(call.name)
        if function is None:
            raise EvaluationError(INTRINSIC_FAILURE, f"Unknown intrinsic function: States.{call.name}")
        values = [self.argument(argument) for argument in call.arguments]
        return function(_Call(call, values))

    def argument(self, argument: Argument) -> JSON:
        if isinstance(argument, Literal):
            return argument.value
        if isinstance(argument, PathArgument):
            try:
                return select(argument.path, self.env)
            except PathNotFound as error:
                raise EvaluationError(RUNTIME, missing_path_detail(argument.path, self.env, self.field)) from error
        return self.call(argument)


class _Call:
    """One invocation: its syntax, evaluated arguments and the checks AWS makes on them."""

    def __init__(self, syntax: Call, values: list[JSON]) -> None:
        self.syntax = syntax
        self.values = values
        self.name = f"States.{syntax.name}"

    def fail(self, why: str) -> EvaluationError:
        return EvaluationError(INTRINSIC_FAILURE, f"Invalid arguments in {self.name}: {why}")

    def expect_count(self, *allowed: int) -> None:
        if len(self.values) not in allowed:
            wanted = " or ".join(str(count) for count in allowed)
            raise self.fail(f"expected {wanted} argument{'s' if allowed != (1,) else ''}, "
                            f"but got {len(self.values)}")

    def string(self, position: int) -> str:
        value = self.values[position]
        if not isinstance(value, str):
            raise self.fail(f"argument {position + 1} must be a string, but was {jsontext.dumps(value)}")
        return value

    def array(self, position: int) -> list[JSON]:
        value = self.values[position]
        if not isinstance(value, list):
            raise self.fail(f"argument {position + 1} must be an array, but was {jsontext.dumps(value)}")
        return value

    def obj(self, position: int) -> dict[str, JSON]:
        value = self.values[position]
        if not isinstance(value, dict):
            raise self.fail(f"argument {position + 1} must be a JSON object, but was {jsontext.dumps(value)}")
        return value

    def integer(self, position: int, rounded: bool = False) -> int:
        """An integer argument; ``rounded`` accepts any number and rounds it as Java's Math.round
        (half up), which is what AWS does for MathAdd."""
        value = self.values[position]
        if not is_number(value):
            raise self.fail(f"argument {position + 1} must be an integer, but was {jsontext.dumps(value)}")
        if isinstance(value, float):
            if rounded:
                return math.floor(value + 0.5)
            if not value.is_integer():
                raise self.fail(f"argument {position + 1} must be an integer, but was {jsontext.dumps(value)}")
        number = int(value)
        if not _INT32[0] <= number <= _INT32[1]:
            raise self.fail(f"argument {position + 1} must be between {_INT32[0]} and {_INT32[1]}, "
                            f"but was {number}")
        return number

    def limited_string(self, position: int) -> str:
        text = self.string(position)
        if len(text) > MAX_STRING_LENGTH:
            raise self.fail(f"the input string must be at most {MAX_STRING_LENGTH} characters long, "
                            f"but was {len(text)}")
        return text


# --- the functions ----------------------------------------------------------------------------

def _format(call: _Call) -> JSON:
    if not call.values:
        raise call.fail("expected at least 1 argument, but got 0")
    first = call.syntax.arguments[0]
    template = call.string(0)
    if isinstance(first, Literal) and first.template is not None:
        pieces: Sequence[str | None] = first.template
    else:
        # A template read from a path has no escapes: every "{}" is a placeholder.
        split = template.split("{}")
        pieces = [piece for index, text in enumerate(split) for piece in ((None, text) if index else (text,))]
    placeholders = sum(1 for piece in pieces if piece is None)
    arguments = call.values[1:]
    if placeholders != len(arguments):
        raise call.fail(f"the template has {placeholders} placeholder{'s' if placeholders != 1 else ''} "
                        f"but {len(arguments)} value{'s' if len(arguments) != 1 else ''} were given")
    rendered = iter(format_value(argument) for argument in arguments)
    return "".join(next(rendered) if piece is None else piece for piece in pieces)


def format_value(value: JSON) -> str:
    """How States.Format prints a value: Java's ``toString`` of the decoded JSON — strings bare,
    objects as ``{k=v, k2=v2}``, arrays as ``[a, b]``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}={format_value(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(format_value(item) for item in value) + "]"
    return jsontext.dumps(value)


def _string_to_json(call: _Call) -> JSON:
    call.expect_count(1)
    text = call.string(0)
    if not text.strip():
        return None  # AWS: an empty (or blank) string parses to null
    try:
        return json.loads(text)
    except ValueError as error:
        raise call.fail(f"the string could not be parsed as JSON: {text}") from error


def _json_to_string(call: _Call) -> JSON:
    call.expect_count(1)
    return jsontext.dumps(call.values[0])


def _array(call: _Call) -> JSON:
    return list(call.values)


def _array_partition(call: _Call) -> JSON:
    call.expect_count(2)
    array = call.array(0)
    size = call.integer(1)
    if size <= 0:
        raise call.fail(f"the chunk size must be a positive integer, but was {size}")
    return [array[start:start + size] for start in range(0, len(array), size)]


def _array_contains(call: _Call) -> JSON:
    call.expect_count(2)
    array = call.array(0)
    return any(json_equal(item, call.values[1]) for item in array)


def _array_range(call: _Call) -> JSON:
    call.expect_count(3)
    start, end, step = call.integer(0), call.integer(1), call.integer(2)
    if step == 0:
        raise call.fail("the step must not be 0")
    count = max(0, (end - start) // step + 1)
    if count > MAX_RANGE_ITEMS:
        raise call.fail(f"the range must have at most {MAX_RANGE_ITEMS} items, but would have {count}")
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(call: _Call) -> JSON:
    call.expect_count(2)
    array = call.array(0)
    index = call.integer(1)
    if not 0 <= index < len(array):
        raise call.fail(f"the index {index} is out of bounds for an array of length {len(array)}")
    return array[index]


def _array_length(call: _Call) -> JSON:
    call.expect_count(1)
    return len(call.array(0))


def _array_unique(call: _Call) -> JSON:
    call.expect_count(1)
    unique: list[JSON] = []
    for item in call.array(0):
        if not any(json_equal(item, seen) for seen in unique):
            unique.append(item)
    return unique


def _base64_encode(call: _Call) -> JSON:
    call.expect_count(1)
    return base64.b64encode(call.limited_string(0).encode("utf-8")).decode("ascii")


def _base64_decode(call: _Call) -> JSON:
    call.expect_count(1)
    text = call.limited_string(0)
    try:
        return base64.b64decode(text.encode("ascii"), validate=True).decode("utf-8")
    except (ValueError, binascii.Error) as error:
        raise call.fail(f"the string is not valid Base64: {text}") from error


def _hash(call: _Call) -> JSON:
    call.expect_count(2)
    data = call.limited_string(0)
    algorithm = call.string(1)
    if algorithm not in _HASHES:
        raise call.fail(f"the hash algorithm must be one of {', '.join(_HASHES)}, but was {algorithm}")
    return hashlib.new(_HASHES[algorithm], data.encode("utf-8")).hexdigest()


def _json_merge(call: _Call) -> JSON:
    call.expect_count(3)
    first, second = call.obj(0), call.obj(1)
    deep = call.values[2]
    if not isinstance(deep, bool):
        raise call.fail(f"argument 3 must be a boolean, but was {jsontext.dumps(deep)}")
    if deep:
        raise call.fail("only shallow merging is supported; the third argument must be false")
    return {**first, **second}


def _math_random(call: _Call) -> JSON:
    call.expect_count(2, 3)
    start, end = call.integer(0), call.integer(1)
    if start >= end:
        raise call.fail(f"the start {start} must be less than the end {end}")
    if len(call.values) == 3:
        return start + JavaRandom(call.integer(2)).next_int(end - start)
    return start + JavaRandom(uuid.uuid4().int & ((1 << 48) - 1)).next_int(end - start)


def _math_add(call: _Call) -> JSON:
    call.expect_count(2)
    return call.integer(0, rounded=True) + call.integer(1, rounded=True)


def _string_split(call: _Call) -> JSON:
    call.expect_count(2)
    text, delimiters = call.string(0), call.string(1)
    # Java's StringTokenizer: every character of the delimiter string splits, empty tokens vanish.
    tokens: list[str] = []
    current: list[str] = []
    for char in text:
        if char in delimiters:
            if current:
                tokens.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


def _uuid(call: _Call) -> JSON:
    call.expect_count(0)
    return str(uuid.uuid4())


_FUNCTIONS: dict[str, Callable[[_Call], JSON]] = {
    "Format": _format,
    "StringToJson": _string_to_json,
    "JsonToString": _json_to_string,
    "Array": _array,
    "ArrayPartition": _array_partition,
    "ArrayContains": _array_contains,
    "ArrayRange": _array_range,
    "ArrayGetItem": _array_get_item,
    "ArrayLength": _array_length,
    "ArrayUnique": _array_unique,
    "Base64Encode": _base64_encode,
    "Base64Decode": _base64_decode,
    "Hash": _hash,
    "JsonMerge": _json_merge,
    "MathRandom": _math_random,
    "MathAdd": _math_add,
    "StringSplit": _string_split,
    "UUID": _uuid,
}
