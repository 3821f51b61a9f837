"""A constant-rate (open-loop) HTTP/1.1 load generator, for latency at a fixed offered load.

wrk is closed-loop: a slow answer delays the next request, so its percentiles hide queueing
(coordinated omission). Here request *i* is due at ``start + i / rate`` whatever happened
before; it goes out on an idle keep-alive connection from a fixed pool (or waits in a backlog
when all are busy), and any time it spent waiting for a connection the server had not yet
released is counted in its latency, so a backlog the server causes is counted in full.

What is not counted is the generator's own timer slack: asyncio wakes up to a millisecond late
(epoll has millisecond timeouts), and a request sent late on a connection that was already free
at its scheduled time starts its clock when it is actually sent. ``p50_from_schedule_ms`` and
friends report the plain scheduled-time measure as well, timer slack included.

Run in its own process (``python -m bench.loadgen SPEC.json``); it prints one JSON object.
SPEC: host, port, path, headers, rate, duration, warmup, connections, and either ``bodies``
(rotated), ``template`` (``COUNTER`` becomes a per-request number) or ``requests`` (rotated
``{"headers": {...}, "body": ...}``: per-request credentials, e.g. pre-signed SigV4 requests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.scenarios import COUNTER


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, on_done: Callable[[_Connection, int, bytes], None],
                 on_lost: Callable[[_Connection], None]) -> None:
        self.on_done = on_done
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.head_end = -1
        self.length = -1
        self.status = 0
        self.start = 0.0  # when this request's clock started (see ``issue``)
        self.scheduled = 0.0
        self.free_since = 0.0  # when the connection last became free
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def send(self, payload: bytes, scheduled: float, start: float) -> None:
        assert self.transport is not None
        self.scheduled = scheduled
        self.start = start
        self.busy = True
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.head_end < 0:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            lines = head.split("\r\n")
            self.status = int(lines[0].split(" ", 2)[1])
            self.length = -1
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    self.length = int(value.strip())
            if self.length < 0:
                raise RuntimeError("loadgen: response without Content-Length")
            self.head_end = end + 4
        total = self.head_end + self.length
        if len(self.buffer) >= total:
            body = bytes(self.buffer[self.head_end:total])
            del self.buffer[:total]
            self.head_end = -1
            self.busy = False
            self.on_done(self, self.status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.on_lost(self)


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    host, port, path = spec["host"], int(spec["port"]), spec["path"]
    rate, duration, warmup = float(spec["rate"]), float(spec["duration"]), float(spec.get("warmup", 1.0))
    headers = "".join(f"{k}: {v}\r\n" for k, v in spec.get("headers", {}).items())
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{headers}"

    def encode(text: str, extra: dict[str, str] | None = None) -> bytes:
        raw = text.encode()
        more = "".join(f"{k}: {v}\r\n" for k, v in (extra or {}).items())
        return f"{head}{more}Content-Length: {len(raw)}\r\n\r\n".encode() + raw

    bodies = [encode(b) for b in spec.get("bodies", [])]
    bodies += [encode(r["body"], r.get("headers")) for r in spec.get("requests", [])]
    template: str | None = spec.get("template")
    tag = spec.get("tag", "lg")

    def payload(i: int) -> bytes:
        if template is not None:
            return encode(template.replace(COUNTER, f"{tag}-{i}"))
        return bodies[i % len(bodies)]

    total = int(rate * (duration + warmup))
    first_measured = int(rate * warmup)
    latencies: list[float] = []
    from_schedule: list[float] = []
    slack: list[float] = []  # generator timer lateness of requests sent on an already-free connection
    outcome = {"ok": 0, "bad_status": 0, "graphql_errors": 0, "connection_errors": 0}
    ok_total = 0  # successful answers including the warm-up (the create check counts rows)
    finished = loop.create_future()
    idle: deque[_Connection] = deque()
    backlog: deque[tuple[int, float]] = deque()
    inflight: dict[_Connection, int] = {}
    completed = 0
    max_backlog = 0
    max_lag = 0.0
    reconnects: set[asyncio.Task[None]] = set()  # keeps reconnect tasks referenced until done

    def issue(conn: _Connection, i: int, scheduled: float) -> None:
        now = loop.time()
        # Waiting the server caused: from the scheduled time until a connection came free.
        server_wait = max(0.0, min(conn.free_since, now) - scheduled)
        if server_wait == 0.0 and i >= first_measured:
            slack.append(now - scheduled)
        inflight[conn] = i
        conn.send(payload(i), scheduled, now - server_wait)

    def finish_one() -> None:
        nonlocal completed
        completed += 1
        if completed == total and not finished.done():
            finished.set_result(None)

    def on_done(conn: _Connection, status: int, body: bytes) -> None:
        now = loop.time()
        nonlocal ok_total
        i = inflight.pop(conn)
        if status == 200 and b'"errors"' not in body:
            ok_total += 1
        conn.free_since = now
        if i >= first_measured:
            latencies.append(now - conn.start)
            from_schedule.append(now - conn.scheduled)
            if status != 200:
                outcome["bad_status"] += 1
            elif b'"errors"' in body:
                outcome["graphql_errors"] += 1
            else:
                outcome["ok"] += 1
        finish_one()
        if backlog:
            j, scheduled = backlog.popleft()
            issue(conn, j, scheduled)
        else:
            idle.append(conn)

    def on_lost(conn: _Connection) -> None:
        if conn in inflight:
            i = inflight.pop(conn)
            if i >= first_measured:
                outcome["connection_errors"] += 1
            finish_one()
        if conn in idle:
            idle.remove(conn)
        if not finished.done():
            reconnects.add(loop.create_task(connect()))

    async def connect() -> None:
        try:
            _, conn = await loop.create_connection(lambda: _Connection(on_done, on_lost), host, port)
        except OSError:
            await asyncio.sleep(0.1)
            reconnects.add(loop.create_task(connect()))
            return
        conn.free_since = loop.time()
        if backlog:
            j, scheduled = backlog.popleft()
            issue(conn, j, scheduled)
        else:
            idle.append(conn)

    for _ in range(int(spec.get("connections", 32))):
        await connect()

    interval = 1.0 / rate
    start = loop.time() + 0.05
    for i in range(total):
        scheduled = start + i * interval
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            max_lag = max(max_lag, -delay)
        if idle:
            issue(idle.popleft(), i, scheduled)
        else:
            backlog.append((i, scheduled))
            max_backlog = max(max_backlog, len(backlog))
    send_done = loop.time()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished, timeout=float(spec.get("drain_timeout", 30)))
    unfinished = total - completed
    latencies.sort()
    from_schedule.sort()
    slack.sort()

    def pct(p: float, values: list[float] = latencies) -> float | None:
        # nearest-rank percentile, in milliseconds
        if not values:
            return None
        rank = max(1, math.ceil(p / 100 * len(values)))
        return values[rank - 1] * 1000

    measured_seconds = send_done - (start + first_measured * interval)
    return {
        "rate": rate,
        "duration": duration,
        "warmup": warmup,
        "scheduled": total - first_measured,
        "measured": len(latencies),
        "unfinished": unfinished,
        "achieved_send_rate": (total - first_measured) / measured_seconds if measured_seconds > 0 else None,
        "max_backlog": max_backlog,
        "max_dispatch_lag_ms": max_lag * 1000,
        **outcome,
        "ok_total": ok_total,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "p999_ms": pct(99.9),
        "max_ms": latencies[-1] * 1000 if latencies else None,
        "mean_ms": sum(latencies) / len(latencies) * 1000 if latencies else None,
        "p50_from_schedule_ms": pct(50, from_schedule),
        "p99_from_schedule_ms": pct(99, from_schedule),
        "timer_slack_p50_ms": pct(50, slack),
        "timer_slack_p99_ms": pct(99, slack),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.loadgen SPEC.json", file=sys.stderr)
        return 2
    spec = json.loads(Path(argv[0]).read_text())
    print(json.dumps(asyncio.run(generate(spec))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
