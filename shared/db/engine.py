"""Async SQLAlchemy engines for PostgreSQL (asyncpg, production) and SQLite (aiosqlite, demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# Every PostgreSQL session of the services (docs/benchmarks.md, round 4):
# - a plan for the statement's actual values, every time. asyncpg prepares each statement
#   and PostgreSQL switches a prepared statement to one generic plan after five runs; made
#   while a table was nearly empty (a new database), that plan stayed while the table grew
#   (the router's ``parties WHERE origin = ANY`` 21 ms per batch, 1.6 ms planned each time).
#   Planning these small statements costs far less than one such scan.
# - no JIT compilation: short statements, and without statistics PostgreSQL overestimated
#   caseview's fold catch-up and compiled it for 20-50 ms to run a millisecond's work.
POSTGRES_SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "jit": "off"}


def create_engine(url: str, *, local_ping: bool = False, **kwargs: Any) -> AsyncEngine:
    """An engine that behaves the same on both backends: real transactions and SAVEPOINTs.

    ``local_ping`` (PostgreSQL): instead of the pool's pre-ping (on asyncpg BEGIN, ``;`` and
    ROLLBACK: three round trips before each checkout's first statement), a checkout asks the
    driver whether the server closed the connection (no round trip): a restarted database or
    a terminated backend closes its sockets, so those connections are replaced before use.
    What that cannot see (a connection lost without a close) fails its first statement; the
    disconnect then invalidates every connection of the pool (SQLAlchemy's own handling), so
    the reads after it reconnect. For request paths that answer such a failure with a 503
    (caseview) and for workers that retry a failed transaction (the router's consumer and
    relay); the other workers keep the pre-ping."""
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
    kwargs.setdefault("pool_pre_ping", not local_ping)
    connect_args = kwargs.setdefault("connect_args", {})
    server_settings = connect_args.setdefault("server_settings", {})
    for name, value in POSTGRES_SERVER_SETTINGS.items():
        server_settings.setdefault(name, value)
    engine = create_async_engine(url, **kwargs)
    if local_ping:
        event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    # The asyncpg dialect's own disconnect test (``is_disconnect``) asks the same question.
    driver = getattr(dbapi_connection, "_connection", None)
    if driver is not None and driver.is_closed():
        raise exc.DisconnectionError("the server closed this connection")  # pool: next one


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
