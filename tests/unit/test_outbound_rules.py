"""The outbound service's rules: the wait before a retry, the statuses a report may set, and
which adapter sends a channel."""

from __future__ import annotations

import pytest

from services.outbound.adapters import NOT_SET_UP, Adapters, build_adapters
from services.outbound.channels.base import PermanentDeliveryError
from services.outbound.config import OutboundSettings
from services.outbound.rules import after_report, backoff_seconds
from shared.contracts.outbound import ReplyChannel, ReplyStatus
from tests.support import FakeAdapter, deliver_reply


def test_backoff_doubles_up_to_the_ceiling() -> None:
    top = [backoff_seconds(n, base=5, ceiling=60, uniform=lambda a, b: b) for n in range(1, 7)]
    assert top == [5, 10, 20, 40, 60, 60]


def test_backoff_is_jittered_between_half_and_all_of_the_wait() -> None:
    assert backoff_seconds(3, base=5, ceiling=900, uniform=lambda a, b: a) == 10
    for _ in range(200):
        assert 10 <= backoff_seconds(3, base=5, ceiling=900) <= 20


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        ("sent", ReplyStatus.DELIVERED, ReplyStatus.DELIVERED),
        ("sent", ReplyStatus.BOUNCED, ReplyStatus.BOUNCED),
        ("sent", ReplyStatus.FAILED, ReplyStatus.FAILED),
        ("sending", ReplyStatus.BOUNCED, ReplyStatus.BOUNCED),  # the report overtook the worker
        ("delivered", ReplyStatus.BOUNCED, ReplyStatus.BOUNCED),  # a delivered mail may bounce
        ("delivered", ReplyStatus.DELIVERED, None),  # a repeated report
        ("sent", ReplyStatus.SENT, None),
        ("bounced", ReplyStatus.DELIVERED, None),  # final
        ("failed", ReplyStatus.DELIVERED, None),
        ("handed-to-print", ReplyStatus.BOUNCED, None),
        ("requested", ReplyStatus.DELIVERED, None),  # not sent: nothing to report on
    ],
)
def test_what_a_report_changes(current: str, reported: ReplyStatus, expected: object) -> None:
    assert after_report(current, reported) == expected


async def test_a_channel_without_an_adapter_fails_permanently() -> None:
    fake = FakeAdapter()
    adapters = Adapters({ReplyChannel.EMAIL: fake})
    assert adapters[ReplyChannel.EMAIL] is fake
    assert adapters.channels() == {ReplyChannel.EMAIL}
    with pytest.raises(PermanentDeliveryError) as refused:
        await adapters[ReplyChannel.SMS].send(deliver_reply(channel=ReplyChannel.SMS))
    assert refused.value.reason == NOT_SET_UP == "kanaal niet ingericht"


def test_build_adapters_makes_one_per_factory() -> None:
    fake = FakeAdapter()
    settings = OutboundSettings(environment="test")
    built = build_adapters(settings, {ReplyChannel.APP: lambda s: fake})
    assert built == {ReplyChannel.APP: fake}
    assert build_adapters(settings, {}) == {}
