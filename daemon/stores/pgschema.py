"""PostgreSQL schema of the derived tables, as versioned idempotent migrations.

``migrate(conn)`` runs at every start: under an advisory lock (two daemons starting at once
cannot race), it creates ``schema_migrations`` if missing and applies, in order and each in
its own transaction, every migration whose version is not recorded yet. Running it again
changes nothing. Column types follow the schema table (daemon/schema/fields.py); the unique key
``(trade_date, seq)`` per table makes a replayed line a no-op. No secondary indexes: each
one slows the bulk load; add them for your queries in a later migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from observer.daemon.model import Track
from observer.daemon.schema.fields import SCHEMAS, Field, Kind, LineSchema

#: Target table per track.
TABLES: Final = {Track.SCALP: "scalp_ticks", Track.SWING: "swing_snapshots"}
#: Columns per track, in line order (the schema table's fields).
FIELDS: Final = {t: s.names for t, s in SCHEMAS.items()}
#: Columns that every row has (the primary key and the times); the others may be null.
_REQUIRED: Final = frozenset({"seq", "symbol", "trade_date", "ts", "received_at"})

_ADVISORY_KEY: Final = 0x0B5E_7E52  # "observer" migrations lock

_PG: Final = {
    Kind.INT: "bigint",
    Kind.FLOAT: "double precision",
    Kind.STR: "text",
    Kind.BOOL: "boolean",
    Kind.DATE: "date",
    Kind.TIMESTAMP: "timestamptz",
}


def column_type(f: Field) -> str:
    """The column type of a field (``NOT NULL`` for the key and the times)."""
    return _PG[f.kind] + (" NOT NULL" if f.name in _REQUIRED else "")


def _create_table(track: Track) -> str:
    """The table as the first version of the schema had it."""
    cols = ",\n  ".join(f"{f.name} {column_type(f)}" for f in SCHEMAS[track] if f.since == 1)
    return (
        f"CREATE TABLE IF NOT EXISTS {TABLES[track]} (\n  {cols},\n"
        f"  PRIMARY KEY (trade_date, seq)\n)"
    )


def add_columns(version: int, schemas: Mapping[Track, LineSchema] = SCHEMAS) -> tuple[str, ...]:
    """The statements adding the fields of schema version ``version`` (nullable: rows loaded
    before have no value)."""
    return tuple(
        f"ALTER TABLE {TABLES[t]} ADD COLUMN IF NOT EXISTS {f.name} {column_type(f)}"
        for t in Track
        for f in schemas[t]
        if f.since == version
    )


#: (version, name, statements). Append only; never edit a released migration. A field
#: added to the schema table with ``since = N`` needs the entry
#: ``(N, "<what it adds>", add_columns(N))``; a test fails without it.
MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (
        1,
        "tick tables and load checkpoints",
        (
            _create_table(Track.SCALP),
            _create_table(Track.SWING),
            """CREATE TABLE IF NOT EXISTS checkpoints (
  track text PRIMARY KEY,
  file text NOT NULL,
  byte_offset bigint NOT NULL CHECK (byte_offset >= 0),
  rows_loaded bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
)""",
        ),
    ),
    (
        2,
        "scalp: market operation, session time, random-end and market class codes, VI "
        "reference price, session",
        add_columns(2),
    ),
)

LATEST: Final = MIGRATIONS[-1][0]


async def migrate(conn: Any) -> list[int]:
    """Apply the missing migrations on an asyncpg connection; returns the versions applied."""
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _ADVISORY_KEY)
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, statements in MIGRATIONS:
            if version in done:
                continue
            async with conn.transaction():  # a savepoint per migration
                for sql in statements:
                    await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            applied.append(version)
    return applied
