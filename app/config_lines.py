"""Find the line in ``trellis.toml`` that a config problem is about.

``tomllib`` keeps no positions, so problems name their table (``resolver Query.x``, ``function
f``, ``data source 'd'``) and this finds that table's header in the file text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from app.errors import Problem

_OWNERS = (
    (re.compile(r"^resolver (?:bound to )?([A-Za-z_]\w*\.[A-Za-z_]\w*)"), "resolvers"),
    (re.compile(r"^function ([A-Za-z_][\w-]*)"), "functions"),
    (re.compile(r"^data source '([^']+)'"), "datasources"),
)


def _header_line(text: str, table: str, name: str) -> int | None:
    pattern = re.compile(
        rf"^\s*\[\s*{table}\s*\.\s*(?:\"{re.escape(name)}\"|'{re.escape(name)}'|{re.escape(name)})\s*\]", re.M
    )
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def with_lines(problems: Iterable[Problem], config_file: str | None, text: str | None) -> list[Problem]:
    out = []
    for problem in problems:
        if text is not None and problem.file == config_file and problem.line is None:
            for pattern, table in _OWNERS:
                found = pattern.match(problem.message)
                if found:
                    line = _header_line(text, table, found.group(1))
                    if line is not None:
                        problem = replace(problem, line=line)
                    break
        out.append(problem)
    return out
