"""PostgreSQL schema of the derived tables, as versioned idempotent migrations.

``migrate(conn)`` runs at every start: under an advisory lock (two daemons starting at once
cannot race), it creates ``schema_migrations`` if missing and applies, in order and each in
its own transaction, every migration whose version is not recorded yet. Running it again
changes nothing. Column types follow the JSONL schema (daemon/model.py); the unique key
``(trade_date, seq)`` per table makes a replayed line a no-op. No secondary indexes: each
one slows the bulk load; add them for your queries in a later migration.
"""

from __future__ import annotations

from typing import Any, Final

from observer.daemon.model import SCALP_FIELDS, SWING_FIELDS, Track

#: Target table per track.
TABLES: Final = {Track.SCALP: "scalp_ticks", Track.SWING: "swing_snapshots"}
FIELDS: Final = {Track.SCALP: SCALP_FIELDS, Track.SWING: SWING_FIELDS}

_ADVISORY_KEY: Final = 0x0B5E_7E52  # "observer" migrations lock

_FLOATS = {"change_pct", "vwap", "strength", "per", "pbr", "eps", "bps"}


def _pg_type(name: str) -> str:
    if name in ("ts", "received_at"):
        return "timestamptz NOT NULL"
    if name == "trade_date":
        return "date NOT NULL"
    if name == "seq":
        return "bigint NOT NULL"
    if name == "symbol":
        return "text NOT NULL"
    if name == "vi":
        return "text"
    if name == "halted":
        return "boolean"
    if name in _FLOATS:
        return "double precision"
    return "bigint"


def _create_table(track: Track) -> str:
    cols = ",\n  ".join(f"{n} {_pg_type(n)}" for n in FIELDS[track])
    return (
        f"CREATE TABLE IF NOT EXISTS {TABLES[track]} (\n  {cols},\n"
        f"  PRIMARY KEY (trade_date, seq)\n)"
    )


#: (version, name, statements). Append only; never edit a released migration.
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
