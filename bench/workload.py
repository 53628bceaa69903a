"""A realistic mix of inbound messages: channels, products, and senders who write again."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from shared.contracts import Channel, IdentifierKind, InboundMessage, SenderIdentifier, Trust

TEXTS = [
    ("Aanvraag evenementenvergunning", "Wij organiseren een buurtfeest met muziek op 14 juni."),
    ("Bijstand", "Ik heb mijn baan verloren en wil een bijstandsuitkering aanvragen."),
    ("Paspoort verlopen", "Mijn paspoort is verlopen, wanneer kan ik langskomen?"),
    ("Verhuizing", "Ik ben verhuisd en wil mijn nieuwe adres doorgeven."),
    ("Parkeren", "Ik wil een bewonersvergunning voor parkeren aanvragen."),
    ("Container", "De grijze container is deze week niet geleegd."),
    ("Wmo", "Mijn moeder heeft huishoudelijke hulp nodig via de Wmo."),
    ("Dakkapel", "Mag ik een dakkapel plaatsen? Is daar een omgevingsvergunning voor nodig?"),
    ("WOZ", "Ik ben het niet eens met de WOZ-waarde op mijn aanslag."),
    ("Lantaarnpaal", "De lantaarnpaal voor ons huis is al een week kapot."),
    ("Vraag", "Goedemiddag, ik heb een vraag over mijn afspraak van vorige week."),
]
CHANNELS = [Channel.WEB, Channel.EMAIL, Channel.APP, Channel.PHONE, Channel.CHAT]


def _bsn(rng: random.Random) -> str:
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        last = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if last < 10:
            return "".join(map(str, digits)) + str(last)


def senders(count: int, seed: int = 7) -> list[list[SenderIdentifier]]:
    """Half log in (DigiD), half are known only by an e-mail address or phone number."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        if n % 2 == 0:
            out.append(
                [
                    SenderIdentifier(
                        kind=IdentifierKind.BSN, value=_bsn(rng), trust=Trust.AUTHENTICATED
                    )
                ]
            )
        else:
            out.append(
                [
                    SenderIdentifier(
                        kind=IdentifierKind.EMAIL,
                        value=f"inwoner{n}@example.nl",
                        trust=Trust.CLAIMED,
                    )
                ]
            )
    return out


def messages(count: int, sender_count: int, seed: int = 11) -> list[InboundMessage]:
    rng = random.Random(seed)
    pool = senders(sender_count)
    out = []
    for _ in range(count):
        subject, text = rng.choice(TEXTS)
        out.append(
            InboundMessage(
                message_id=uuid.uuid4(),
                channel=rng.choice(CHANNELS),
                received_at=datetime.now(UTC),
                sender=rng.choice(pool),
                subject=subject,
                text=text,
            )
        )
    return out
