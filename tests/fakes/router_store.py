"""The in-memory ``RouterStore`` the router's unit and contract tests use: shipped as
``services/router/store/memory.py`` (``eenloket routing evaluate`` routes on it)."""

from services.router.store.memory import FakeRouterStore, Tables

__all__ = ["FakeRouterStore", "Tables"]
