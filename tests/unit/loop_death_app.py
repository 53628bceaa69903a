"""A tiny service for test_service_exit.py: shared/service.py's runner around an app with one
supervised loop, which dies when ``POST /die`` asks it to.

``python -m tests.unit.loop_death_app MODE PORT``; MODE ``orderly`` (the lifespan's shutdown
finishes and prints ``lifespan stopped``) or ``stuck`` (the shutdown never finishes, as a
consumer that cannot leave its group)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.http import health_router
from shared.logging import setup_logging
from shared.service import run_server
from shared.tasks import Loops, on_loop_death


def main() -> None:
    mode, port = sys.argv[1], int(sys.argv[2])
    setup_logging("loop-death-test", "INFO")
    die = asyncio.Event()

    async def doomed() -> None:
        await die.wait()
        raise AssertionError("Partition is not assigned")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loops = Loops(on_death=on_loop_death(app.state))
        loops.start("doomed", doomed())
        app.state.readiness = {"loops": loops.check}
        try:
            yield
        finally:
            await loops.stop()
            if mode == "stuck":
                await asyncio.Event().wait()
            print("lifespan stopped", flush=True)

    app = FastAPI(lifespan=lifespan)
    app.state.readiness = {}
    app.include_router(health_router(lambda: app.state.readiness))

    @app.post("/die")
    async def _die() -> dict[str, str]:
        die.set()
        return {"status": "dying"}

    sys.exit(run_server(app, host="127.0.0.1", port=port, grace=2.0))


if __name__ == "__main__":
    main()
