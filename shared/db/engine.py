"""Async SQLAlchemy engines for PostgreSQL (asyncpg, production) and SQLite (aiosqlite, demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine that behaves the same on both backends: real transactions and SAVEPOINTs."""
    # orjson for JSON columns (outbox payloads, projections): several times faster.
    kwargs.setdefault("json_serializer", lambda obj: orjson.dumps(obj).decode())
    kwargs.setdefault("json_deserializer", orjson.loads)
    # Errors and logs never carry SQL parameters: they are personal data (texts, addresses).
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _sqlite_transactions(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 5)
    kwargs.setdefault("pool_pre_ping", True)
    # A plan for the statement's actual values, every time. asyncpg prepares each statement
    # and PostgreSQL switches a prepared statement to one generic plan after five runs: on a
    # table that was nearly empty then (a new database, a new consumer group) that plan was
    # "index on the first column, filter the rest" and stayed cached while the table grew -
    # the processed-events lookup took 60 ms per batch after 40,000 rows (docs/benchmarks.md,
    # round 4). Planning these small statements costs far less than one such scan.
    # No JIT compilation: these are short statements, and without statistics (a new table)
    # PostgreSQL overestimated caseview's fold catch-up and compiled it for 20-50 ms each
    # time (pg_stat_statements, round 4) to run a statement that takes a millisecond.
    connect_args = kwargs.setdefault("connect_args", {})
    server_settings = connect_args.setdefault("server_settings", {})
    server_settings.setdefault("plan_cache_mode", "force_custom_plan")
    server_settings.setdefault("jit", "off")
    return create_async_engine(url, **kwargs)


def _sqlite_transactions(engine: AsyncEngine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and begins lazily; hand
    # control to SQLAlchemy (SQLAlchemy docs, "Serializable isolation / Savepoints").
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
