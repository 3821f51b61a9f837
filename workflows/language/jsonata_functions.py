"""The JSONata functions Step Functions adds or changes (AWS docs, "Transforming data with JSONata
in Step Functions"): ``$partition``, ``$range``, ``$hash``, ``$random`` (with an optional seed),
``$uuid``, ``$parse``; ``$eval`` is not available; ``$now``/``$millis`` read the evaluation's
timestamp given by the caller rather than the library's global one. ``$string`` and ``$number``
are wrapped where the library's answer differs from jsonata-js's.

Edge behaviour (undefined vs. error, rounding towards zero, the seeded generator being Java's
``java.util.Random``) follows what other emulators measured against AWS's TestState API.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from jsonata.functions import Functions
from jsonata.jsonata import Jsonata
from jsonata.parser import Parser

from workflows.language.java_random import JavaRandom
from workflows.language.jsonata_values import stringify, to_jsonata


class FunctionError(Exception):
    """An error raised by one of these functions; rendered as ``<code>: <message>``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _signature_error(name: str, argument_number: int) -> FunctionError:
    return FunctionError("T0410", f'Argument {argument_number} of function "{name}" does not match function signature')


def _argument(arguments: Sequence[Any] | None, index: int) -> Any:
    """The argument in a slot, ``None`` (undefined) when the call left it out."""
    if arguments is None or index >= len(arguments):
        return None
    return arguments[index]


def _towards_zero(value: Any, name: str, argument_number: int) -> int:
    """AWS truncates a non-integral numeric argument towards zero (-1.7 → -1)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _signature_error(name, argument_number)
    return int(value)


def _reject_surplus(arguments: Sequence[Any] | None, name: str, allowed: int) -> None:
    if _argument(arguments, allowed) is not None:
        raise _signature_error(name, allowed + 1)


# --- the functions -----------------------------------------------------------------------------

def partition(arguments: Sequence[Any] | None) -> Any:
    """``$partition(array, size)``: chunks of ``size``, the last one shorter. An empty array or a
    size of 0 gives undefined; a negative size is an error."""
    _reject_surplus(arguments, "partition", 2)
    array = _argument(arguments, 0)
    if array is None:
        return None
    if not isinstance(array, list):
        raise FunctionError("T0412", 'Argument 1 of function "partition" must be an array of undefined')
    if not array:
        return None
    size_argument = _argument(arguments, 1)
    if size_argument is None:
        return [list(array)]
    size = _towards_zero(size_argument, "partition", 2)
    if size < 0:
        raise FunctionError("D3137", "Second argument must be zero or greater")
    if size == 0:
        return None
    return [list(array[start:start + size]) for start in range(0, len(array), size)]


def range_(arguments: Sequence[Any] | None) -> Any:
    """``$range(start, end, step)``: ``start``, ``start+step``, ... up to ``end`` inclusive. A
    missing or zero step, or one pointing away from ``end``, gives undefined; a one-element range is
    the bare number."""
    _reject_surplus(arguments, "range", 3)
    start = _towards_zero(_argument(arguments, 0), "range", 1)
    end = _towards_zero(_argument(arguments, 1), "range", 2)
    step_argument = _argument(arguments, 2)
    if step_argument is None:
        return None
    step = _towards_zero(step_argument, "range", 3)
    if step == 0 or (step > 0 and start > end) or (step < 0 and start < end):
        return None
    if start == end:
        return start
    return list(range(start, end + (1 if step > 0 else -1), step))


_HASH_ALGORITHMS: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA-1": hashlib.sha1,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
}


def hash_(arguments: Sequence[Any] | None) -> Any:
    """``$hash(value, algorithm)``: the hex digest of the UTF-8 string (algorithm names are
    case-sensitive)."""
    _reject_surplus(arguments, "hash", 2)
    value = _argument(arguments, 0)
    if not isinstance(value, str):
        raise _signature_error("hash", 1)
    algorithm = _argument(arguments, 1)
    if algorithm is None:
        return None
    if not isinstance(algorithm, str):
        raise _signature_error("hash", 2)
    digest = _HASH_ALGORITHMS.get(algorithm)
    if digest is None:
        raise FunctionError(
            "D3137", f"Hash algorithm '{algorithm}' must be one of SHA-1, SHA-384, SHA-256, SHA-512, MD5"
        )
    return digest(value.encode("utf-8")).hexdigest()


def random_(arguments: Sequence[Any] | None) -> Any:
    """``$random([seed])``: a number in [0, 1); reproducible under a seed."""
    _reject_surplus(arguments, "random", 1)
    seed = _argument(arguments, 0)
    if seed is None:
        return random.random()  # noqa: S311 - not for cryptography, as on AWS
    return JavaRandom(_towards_zero(seed, "random", 1)).next_double()


def uuid_(arguments: Sequence[Any] | None) -> Any:
    """``$uuid()``: a random version-4 UUID."""
    _reject_surplus(arguments, "uuid", 0)
    return str(uuid.uuid4())


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("duplicate key")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def parse(arguments: Sequence[Any] | None) -> Any:
    """``$parse(jsonString)``: the JSON value the string holds (AWS's replacement for ``$eval``).
    Strict: a repeated key, NaN/Infinity or trailing text is invalid."""
    _reject_surplus(arguments, "parse", 1)
    text = _argument(arguments, 0)
    if text is None:
        return None
    if not isinstance(text, str):
        raise _signature_error("parse", 1)
    try:
        parsed = json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)
    except ValueError:
        raise FunctionError("D3137", "Invalid JSON") from None
    return to_jsonata(parsed)


# --- standard functions AWS answers differently -------------------------------------------------

def string(arguments: Sequence[Any] | None) -> Any:
    """``$string(value, prettify)`` as jsonata-js writes it: the library prints large and tiny
    numbers in another notation (``$string(1e20)`` must be "100000000000000000000")."""
    value = _argument(arguments, 0)
    if isinstance(value, list) and getattr(value, "outer_wrapper", False):
        value = value[0]  # the library's wrapper around an array input, not a value
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Jsonata.JFunction | Parser.Symbol):
        return ""
    return stringify(value, 2 if _argument(arguments, 1) is True else 0)


def number(arguments: Sequence[Any] | None) -> Any:
    """``$number(value)``, failing with jsonata-js's D3030 where the library raises a Python error."""
    value = _argument(arguments, 0)
    try:
        return Functions.number(value)
    except ValueError:
        raise FunctionError("D3030", f"Unable to cast value to a number: {json.dumps(value)}") from None


# --- binding them ------------------------------------------------------------------------------

class _Native:
    """Adapts ``implementation(arguments)`` to what ``Jsonata.JFunction`` calls: ``call(input, args)``."""

    def __init__(self, implementation: Callable[[Sequence[Any] | None], Any]) -> None:
        self._implementation = implementation

    def call(self, input: Any, args: Sequence[Any] | None) -> Any:
        return self._implementation(args)


def _function(implementation: Callable[[Sequence[Any] | None], Any], signature: str) -> Jsonata.JFunction:
    # Every parameter is optional and of any type ("x?") — with one slot more than the function
    # takes — so that a wrong call reaches the implementation, which fails with AWS's own message.
    return Jsonata.JFunction(_Native(implementation), signature)


_AWS_FUNCTIONS: dict[str, Jsonata.JFunction] = {
    "partition": _function(partition, "<x?x?x?:x>"),
    "range": _function(range_, "<x?x?x?x?:x>"),
    "hash": _function(hash_, "<x?x?x?:x>"),
    "random": _function(random_, "<x?x?:x>"),
    "uuid": _function(uuid_, "<x?:x>"),
    "parse": _function(parse, "<x?x?:x>"),
    # The library's own signatures: these only fix what the library answers.
    "string": _function(string, "<x-b?:s>"),
    "number": _function(number, "<(nsb)-:n>"),
}


def bindings(now_ms: int) -> dict[str, Any]:
    """The names to bind for one evaluation: AWS's functions, ``$eval`` removed (bound to
    undefined, so calling it is JSONata's T1006 as on AWS), ``$now``/``$millis`` at ``now_ms``."""

    def now(arguments: Sequence[Any] | None) -> Any:
        return Functions.datetime_from_millis(now_ms, _argument(arguments, 0), _argument(arguments, 1))

    def millis(arguments: Sequence[Any] | None) -> Any:
        return now_ms

    names: dict[str, Any] = dict(_AWS_FUNCTIONS)
    names["eval"] = None
    names["now"] = Jsonata.JFunction(_Native(now), "<s?s?:s>")
    names["millis"] = Jsonata.JFunction(_Native(millis), "<:n>")
    return names

