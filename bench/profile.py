"""Summarise a py-spy ``--format raw`` profile (collapsed stacks) into hotspot tables.

Each line of the file is ``frame;frame;...;frame COUNT`` with frames like
``function (path/file.py:123)``; with ``--threads`` the first frame names the thread.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
AREAS = (
    ("Trellis (app/, resolvers/, datasources/, auth/)", ("app/", "resolvers/", "datasources/", "auth/")),
    ("graphql-core", ("graphql/",)),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("aiosqlite + sqlite3", ("aiosqlite/", "sqlite3/")),
    ("Starlette", ("starlette/",)),
    ("uvicorn (HTTP protocol)", ("uvicorn/", "h11/", "httptools/")),
    ("logging", ("logging/",)),
    ("json", ("json/",)),
    ("prometheus_client", ("prometheus_client/",)),
    ("asyncio / event loop (uvloop's C time lands in Runner.run)", ("asyncio/",)),
    ("threads and queues", ("threading.py", "queue.py", "concurrent/")),
)


def _parse(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if match is None:
        return frame, ""
    return match["name"], match["file"]


def area(file: str) -> str:
    for title, prefixes in AREAS:
        if any(file.startswith(p) or f"/{p}" in file for p in prefixes):
            return title
    return "other (stdlib, C calls)"


def summarize(raw: str, top: int = 15) -> dict[str, Any]:
    self_fn: Counter[str] = Counter()
    inclusive_fn: Counter[str] = Counter()
    self_area: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = "all threads"
        if frames and frames[0].startswith(("thread ", "process ")):
            thread, frames = frames[0], frames[1:]
        if not frames:
            continue
        threads[thread] += count
        total += count
        parsed = [_parse(f) for f in frames]
        name, file = parsed[-1]
        self_fn[f"{name} ({file})"] += count
        self_area[area(file)] += count
        for key in {f"{n} ({f})" for n, f in parsed}:
            inclusive_fn[key] += count

    def pct(n: int) -> float:
        return round(100.0 * n / total, 1) if total else 0.0

    trellis_inclusive = [
        (k, v) for k, v in inclusive_fn.most_common()
        if area(k.rsplit("(", 1)[-1].rstrip(")")).startswith("Trellis") and "app/cli.py" not in k
    ]
    return {
        "samples": total,
        "threads": [{"thread": t, "percent": pct(n)} for t, n in threads.most_common()],
        "self_by_area": [{"area": a, "percent": pct(n)} for a, n in self_area.most_common()],
        "top_self": [{"function": f, "percent": pct(n)} for f, n in self_fn.most_common(top)],
        "top_inclusive_trellis": [{"function": f, "percent": pct(n)} for f, n in trellis_inclusive[:top]],
        "top_inclusive": [{"function": f, "percent": pct(n)} for f, n in inclusive_fn.most_common(top * 2)],
    }
