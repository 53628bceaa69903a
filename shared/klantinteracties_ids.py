"""The identities of Eenloket's things in the Klantinteracties API (0.9): the uuid each
resource gets, derived from Eenloket's own ids. Shared by the facade that serves them
(services/caseview/klantinteracties/) and the notifications that point at them
(services/notifications/); docs/klantinteracties.md explains the scheme.

What exists once per klantcontact (betrokkene, onderwerpobject, actorklantcontact) or per case
(internetaak) takes the owner's id XOR a fixed mask per resource: stable, distinct, and
reversible. What exists several times per owner (a party's partij-identificatoren and digitale
adressen, a message's bijlagen) takes the owner's first 8 bytes and 8 bytes of a hash of what
it is (``prefixed``). An actor (a team) is a UUIDv5 of the team id.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

BETROKKENE_MASK = 0x6265_7472_6F6B_6B65_6E65_0000_0000_0001  # "betrokkene"
ONDERWERP_MASK = 0x6F6E_6465_7277_6572_7000_0000_0000_0002  # "onderwerp"
ACTOR_KLANTCONTACT_MASK = 0x6163_746F_726B_6C61_6E74_0000_0000_0003  # "actorklant"
INTERNETAAK_MASK = 0x696E_7465_726E_6574_6161_6B00_0000_0004  # "internetaak"
ACTOR_NAMESPACE = uuid.UUID("9e3c2a1d-6f4b-5c8e-a7d2-6b6c616e7433")


def masked(id_: uuid.UUID, mask: int) -> uuid.UUID:
    return uuid.UUID(int=id_.int ^ mask)


def betrokkene_uuid(message_id: uuid.UUID) -> uuid.UUID:
    return masked(message_id, BETROKKENE_MASK)


def onderwerpobject_uuid(message_id: uuid.UUID) -> uuid.UUID:
    return masked(message_id, ONDERWERP_MASK)


def prefixed(owner: uuid.UUID, *what: str) -> uuid.UUID:
    """The id of one of an owner's several items: the owner's first 8 bytes, then 8 bytes of a
    hash of what the item is (module docstring)."""
    digest = hashlib.sha256("\x00".join(what).encode()).digest()
    return uuid.UUID(bytes=owner.bytes[:8] + digest[:8])


def owner_range(id_: uuid.UUID) -> tuple[uuid.UUID, uuid.UUID]:
    """The lowest and highest owner id a ``prefixed`` id can have come from."""
    head = id_.bytes[:8]
    return uuid.UUID(bytes=head + bytes(8)), uuid.UUID(bytes=head + b"\xff" * 8)


def identificator_uuid(party_id: uuid.UUID, kind: str, value: str) -> uuid.UUID:
    return prefixed(party_id, "partij-identificator", kind, value)


def digitaal_adres_uuid(party_id: uuid.UUID, kind: str, value: str) -> uuid.UUID:
    return prefixed(party_id, "digitaal-adres", kind, value)


def bijlage_uuid(message_id: uuid.UUID, sha256: str) -> uuid.UUID:
    return prefixed(message_id, "bijlage", sha256)


def actor_uuid(team: str) -> uuid.UUID:
    return uuid.uuid5(ACTOR_NAMESPACE, team)


def actorklantcontact_uuid(message_id: uuid.UUID) -> uuid.UUID:
    return masked(message_id, ACTOR_KLANTCONTACT_MASK)


def internetaak_uuid(case_id: uuid.UUID) -> uuid.UUID:
    return masked(case_id, INTERNETAAK_MASK)


@dataclass(frozen=True)
class Identifier:
    kind: str
    value: str
    trust: str


def soort_partij(identifiers: Sequence[Identifier]) -> str:
    kinds = {i.kind for i in identifiers}
    return "organisatie" if "kvk" in kinds and "bsn" not in kinds else "persoon"
