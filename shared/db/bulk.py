"""Many rows in one statement on PostgreSQL, without SQLAlchemy's per-row parameter work.

``session.execute(table.insert(), rows)`` runs every value of every row through
SQLAlchemy's bind processors and sends asyncpg one Bind/Execute per row; for the
projection's timeline rows that was a sixth of caseview's CPU. On PostgreSQL
``insert_many`` sends the same rows as one ``INSERT ... SELECT FROM unnest($1::type[],
...)`` with a column-wise array per column; SQLite (the demo) takes the SQLAlchemy
statement. Both give the same rows: the projection's tests run on both backends.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert

from shared.db.dialect import is_postgres

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


async def postgres_driver(session: AsyncSession) -> Any | None:
    """The asyncpg connection under the session's transaction on PostgreSQL, for the hot
    statements of a batch: one statement with array parameters per table instead of
    SQLAlchemy's per-row parameter processing. Its statements run inside the session's
    transaction (and savepoints), which this makes sure has begun.

    None on SQLite, and where SQLAlchemy translates schemas (caseview's rebuild writes into
    a shadow schema): SQL sent here names the tables as they are."""
    if not is_postgres(session):
        return None
    connection = await session.connection()
    sync = connection.sync_connection
    if sync is None or sync.get_execution_options().get("schema_translate_map"):
        return None
    driver = (await connection.get_raw_connection()).driver_connection
    if driver is None or not driver.is_in_transaction():
        await connection.execute(text("SELECT 1"))  # SQLAlchemy begins its transaction
        driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    assert driver.is_in_transaction()
    return driver


@functools.cache
def _unnest_sql(
    table: Table, columns: tuple[str, ...], suffix: str
) -> tuple[str, tuple[bool, ...]]:
    """The statement, and per column whether its values go as JSON text."""
    casts, selected, is_json = [], [], []
    for n, name in enumerate(columns):
        column_type = table.c[name].type.dialect_impl(_PG)
        pg_type = column_type.compile(_PG)
        json = isinstance(column_type, JSON)
        # JSON goes as text (asyncpg has no array codec for it), cast per element.
        casts.append(f"${n + 1}::text[]" if json else f"${n + 1}::{pg_type}[]")
        selected.append(f"u.c{n}::{pg_type}" if json else f"u.c{n}")
        is_json.append(json)
    names = ", ".join(f'"{name}"' for name in columns)
    aliases = ", ".join(f"c{n}" for n in range(len(columns)))
    # Names from the table's metadata and the caller's constant suffix; values are parameters.
    sql = (
        f'INSERT INTO "{table.name}" ({names}) SELECT {", ".join(selected)} '  # noqa: S608
        f"FROM unnest({', '.join(casts)}) AS u({aliases}) {suffix}"
    )
    return sql, tuple(is_json)


def _value(value: Any, json: bool) -> Any:
    if json:
        return None if value is None else orjson.dumps(value).decode()
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware times only")
        return value.astimezone(UTC)
    return value


async def insert_many(
    session: AsyncSession,
    statement: Insert,
    rows: Sequence[Mapping[str, Any]],
    *,
    postgres_suffix: str = "",
) -> None:
    """``session.execute(statement, rows)``, as one statement on PostgreSQL.

    ``statement`` is the INSERT (with its ON CONFLICT clause) as SQLAlchemy runs it on
    SQLite; ``postgres_suffix`` the same ON CONFLICT clause in SQL for PostgreSQL. Every
    row has the same keys."""
    if not rows:
        return
    driver = await postgres_driver(session)
    if driver is None:
        await session.execute(statement, list(rows))
        return
    table = statement.table
    assert isinstance(table, Table)
    await driver.execute(*unnest_insert(table, rows, postgres_suffix))


def unnest_insert(
    table: Table, rows: Sequence[Mapping[str, Any]], suffix: str = ""
) -> tuple[Any, ...]:
    """The PostgreSQL statement and its array arguments that insert ``rows`` (all with the
    same keys, at least one) in one go: ``driver.execute(*unnest_insert(...))``, or
    ``driver.fetch`` when ``suffix`` ends in RETURNING."""
    columns = tuple(rows[0])
    sql, is_json = _unnest_sql(table, columns, suffix)
    arrays = [
        [_value(row[name], json) for row in rows]
        for name, json in zip(columns, is_json, strict=True)
    ]
    return (sql, *arrays)
