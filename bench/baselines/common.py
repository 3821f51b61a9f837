"""What every baseline shares: where the database is, the Product table, timestamps, tokens.

The table definition mirrors the one Trellis creates for ``type Product @model`` (same column
names and SQL types), so every server reads and writes the same rows in the same format.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, MetaData, Table, Text

PRODUCT_COLUMNS = (
    "id", "sku", "name", "description", "priceCents", "category", "labels", "active", "createdAt", "updatedAt",
)

metadata = MetaData()
product_table = Table(
    "Product",
    metadata,
    Column("id", Text, primary_key=True),
    Column("sku", Text),
    Column("name", Text),
    Column("description", Text),
    Column("priceCents", BigInteger),
    Column("category", Text),
    Column("labels", JSON(none_as_null=True)),
    Column("active", Boolean),
    Column("createdAt", Text),
    Column("updatedAt", Text),
)


def database_path() -> str:
    """The SQLite file to serve, from ``BENCH_DB`` (set by ``bench.run``)."""
    path = os.environ.get("BENCH_DB")
    if not path:
        raise RuntimeError("set BENCH_DB to the SQLite file to serve")
    return path


def now_iso() -> str:
    """AWSDateTime the way Trellis writes it: UTC, milliseconds, ``Z``."""
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_product(data: dict[str, Any]) -> dict[str, Any]:
    """A full Product row from a create input: id, defaults and timestamps filled in."""
    stamp = now_iso()
    return {
        "id": data.get("id") or str(uuid.uuid4()),
        "sku": data["sku"],
        "name": data["name"],
        "description": data.get("description"),
        "priceCents": data["priceCents"],
        "category": data.get("category"),
        "labels": data.get("labels"),
        "active": True if data.get("active") is None else data["active"],
        "createdAt": stamp,
        "updatedAt": stamp,
    }


def encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([last_id]).encode()).decode()


def decode_token(token: str) -> str:
    value = json.loads(base64.urlsafe_b64decode(token.encode()))
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], str):
        raise ValueError("invalid nextToken")
    return value[0]
