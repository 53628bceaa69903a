"""The e-mail adapter's pool of kept SMTP sessions, with fake sessions (no network)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosmtplib
import pytest

from services.outbound.channels.email import SmtpPool


class FakeSession:
    """An SMTP session that records what it was asked; ``fail`` raises on the next sendmail."""

    def __init__(self, log: list[FakeSession]) -> None:
        self.connected = False
        self.mails: list[bytes] = []
        self.quits = 0
        self.fail: BaseException | None = None
        self.gate: asyncio.Event | None = None  # sendmail waits for it when set
        log.append(self)

    @property
    def is_connected(self) -> bool:
        return self.connected

    async def connect(self) -> Any:
        self.connected = True

    async def sendmail(self, sender: str, recipients: list[str], message: bytes) -> Any:
        if not self.connected:
            raise aiosmtplib.SMTPServerDisconnected("not connected")
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        self.mails.append(message)

    async def quit(self) -> Any:
        self.quits += 1
        self.connected = False

    def close(self) -> None:
        self.connected = False


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def pool(
    sessions: list[FakeSession], clock: Clock | None = None, *, size: int = 2, mails: int = 100
) -> SmtpPool:
    return SmtpPool(
        lambda: FakeSession(sessions),
        size=size,
        mails_per_connection=mails,
        idle_seconds=30,
        clock=clock or Clock(),
    )


async def test_one_session_carries_mail_after_mail() -> None:
    sessions: list[FakeSession] = []
    p = pool(sessions)
    for n in range(5):
        await p.sendmail("a@x.nl", ["b@y.nl"], b"mail %d" % n)
    assert len(sessions) == 1
    assert len(sessions[0].mails) == 5
    assert p.kept == 1


async def test_no_more_sessions_at_once_than_the_size() -> None:
    sessions: list[FakeSession] = []
    p = pool(sessions, size=2)
    gate = asyncio.Event()
    real_factory = p._factory  # every new session waits at the gate

    def gated() -> FakeSession:
        s = real_factory()
        assert isinstance(s, FakeSession)
        s.gate = gate
        return s

    p._factory = gated
    sends = [asyncio.create_task(p.sendmail("a@x.nl", ["b@y.nl"], b"m")) for _ in range(6)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert len(sessions) == 2  # the other four wait for a session
    gate.set()
    await asyncio.gather(*sends)
    assert len(sessions) == 2
    assert sum(len(s.mails) for s in sessions) == 6


async def test_a_session_that_failed_is_closed_and_not_reused() -> None:
    sessions: list[FakeSession] = []
    p = pool(sessions)
    await p.sendmail("a@x.nl", ["b@y.nl"], b"first")
    sessions[0].fail = aiosmtplib.SMTPRecipientsRefused([])
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await p.sendmail("a@x.nl", ["b@y.nl"], b"refused")
    assert not sessions[0].connected
    assert p.kept == 0
    await p.sendmail("a@x.nl", ["b@y.nl"], b"next")
    assert len(sessions) == 2
    assert sessions[1].mails == [b"next"]


async def test_a_kept_session_the_relay_dropped_is_replaced_once() -> None:
    sessions: list[FakeSession] = []
    p = pool(sessions)
    await p.sendmail("a@x.nl", ["b@y.nl"], b"first")
    sessions[0].fail = aiosmtplib.SMTPServerDisconnected("gone")
    await p.sendmail("a@x.nl", ["b@y.nl"], b"second")
    assert [s.mails for s in sessions] == [[b"first"], [b"second"]]


async def test_a_new_session_that_drops_is_an_error_not_a_loop() -> None:
    sessions: list[FakeSession] = []
    p = pool(sessions)

    p._factory = lambda: _refusing(sessions)
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await p.sendmail("a@x.nl", ["b@y.nl"], b"m")
    assert len(sessions) == 1
    assert p.kept == 0


def _refusing(sessions: list[FakeSession]) -> FakeSession:
    s = FakeSession(sessions)

    async def connect() -> Any:
        raise aiosmtplib.SMTPConnectError("refused")

    s.connect = connect  # type: ignore[method-assign]
    return s


async def test_a_fresh_session_dropped_mid_mail_is_not_retried() -> None:
    sessions: list[FakeSession] = []
    p = pool(sessions)
    original = p._factory

    def dropping() -> FakeSession:
        s = original()
        assert isinstance(s, FakeSession)
        s.fail = aiosmtplib.SMTPServerDisconnected("gone")
        return s

    p._factory = dropping
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await p.sendmail("a@x.nl", ["b@y.nl"], b"m")
    assert len(sessions) == 1


async def test_an_idle_session_past_its_time_is_not_reused() -> None:
    sessions: list[FakeSession] = []
    clock = Clock()
    p = pool(sessions, clock)
    await p.sendmail("a@x.nl", ["b@y.nl"], b"first")
    clock.now += 31
    await p.sendmail("a@x.nl", ["b@y.nl"], b"later")
    assert len(sessions) == 2
    assert not sessions[0].connected


async def test_a_session_quits_after_its_mail_allowance() -> None:
    sessions: list[FakeSession] = []
    p = pool(sessions, mails=3)
    for _ in range(4):
        await p.sendmail("a@x.nl", ["b@y.nl"], b"m")
    assert [len(s.mails) for s in sessions] == [3, 1]
    assert sessions[0].quits == 1


async def test_a_cancelled_send_closes_its_session() -> None:
    sessions: list[FakeSession] = []
    p = pool(sessions)
    gate = asyncio.Event()
    await p.sendmail("a@x.nl", ["b@y.nl"], b"first")
    sessions[0].gate = gate
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(p.sendmail("a@x.nl", ["b@y.nl"], b"slow"), timeout=0.01)
    assert not sessions[0].connected
    assert p.kept == 0


async def test_aclose_says_goodbye_on_every_kept_session() -> None:
    sessions: list[FakeSession] = []
    p = pool(sessions)
    await asyncio.gather(*(p.sendmail("a@x.nl", ["b@y.nl"], b"m") for _ in range(2)))
    await p.aclose()
    assert p.kept == 0
    assert all(s.quits == 1 for s in sessions)
