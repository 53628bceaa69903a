"""Small fake producers for ingest tests: Kafka's acknowledgement made slow, or refused.

They stand in for the producer in ``Intake`` (``dataclasses.replace``); ``publish`` only
calls ``send``. No mocks library: each is a class with the one method it needs."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI

from services.ingest.service import Intake


class HeldProducer:
    """The first send waits until ``release`` is set (``held`` tells it is waiting); the
    others go straight to the real producer. Records every value it was given."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.values: list[bytes] = []
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, topic: str, **kwargs: Any) -> Any:
        self.values.append(kwargs["value"])
        if len(self.values) == 1:
            self.held.set()
            await self.release.wait()
        return await self.real.send(topic, **kwargs)


class RefusingProducer:
    """A broker that never acknowledges: every send fails as an unreachable Kafka does."""

    def __init__(self) -> None:
        self.values: list[bytes] = []

    async def send(self, topic: str, **kwargs: Any) -> Any:
        self.values.append(kwargs["value"])
        raise KafkaConnectionError("the fake broker is away")


def use_producer(app: FastAPI, producer: Any) -> Any:
    """Put ``producer`` into the running app's intake; returns the one it replaces."""
    intake: Intake = app.state.intake
    app.state.intake = dataclasses.replace(intake, producer=producer)
    return intake.producer
