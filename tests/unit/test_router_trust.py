"""Where trust comes from (docs/routing.md): every channel and identifier source, one table.

The rung comes from the channel's evidence on the message, never from the value: each
row names what a channel can carry and the rung the router must give it.
"""

import pytest

from services.router.domain.trust import Rung, rung, stored_trust
from shared.contracts import Channel, Evidence, IdentifierKind, SenderIdentifier, Trust

C, K, T, E = Channel, IdentifierKind, Trust, Evidence
BSN, KVK = "111222333", "12345678"

ROWS = [
    # channel, kind, value, trust ingest gave, evidence, imported, rung
    # Logins asserted by a key allowed to assert them.
    (C.WEB, K.BSN, BSN, T.AUTHENTICATED, E.DIGID, False, Rung.AUTHENTICATED),
    (C.APP, K.BSN, BSN, T.AUTHENTICATED, E.DIGID, False, Rung.AUTHENTICATED),
    (C.WEB, K.KVK, KVK, T.AUTHENTICATED, E.EHERKENNING, False, Rung.AUTHENTICATED),
    (C.APP, K.KVK, KVK, T.AUTHENTICATED, E.EHERKENNING, False, Rung.AUTHENTICATED),
    (C.COUNTER, K.BSN, BSN, T.AUTHENTICATED, E.ID_DOCUMENT, False, Rung.AUTHENTICATED),
    # Events from before evidence existed keep their meaning.
    (C.WEB, K.BSN, BSN, T.AUTHENTICATED, None, False, Rung.AUTHENTICATED),
    # Evidence that does not fit the identifier proves nothing.
    (C.WEB, K.BSN, BSN, T.AUTHENTICATED, E.EHERKENNING, False, Rung.CLAIMED),
    (C.WEB, K.EMAIL, "a@b.nl", T.AUTHENTICATED, E.DIGID, False, Rung.CLAIMED),
    # E-mail: a From that passed DMARC at a trusted gateway, or DKIM verified by ingest.
    (C.EMAIL, K.EMAIL, "a@b.nl", T.CLAIMED, E.DMARC, False, Rung.SENT_FROM),
    (C.EMAIL, K.EMAIL, "a@b.nl", T.CLAIMED, E.DKIM, False, Rung.SENT_FROM),
    (C.EMAIL, K.EMAIL, "a@b.nl", T.CLAIMED, None, False, Rung.CLAIMED),  # unauthenticated From
    (C.EMAIL, K.EMAIL, "a@b.nl", T.VERIFIED, None, False, Rung.CLAIMED),  # ingest can't verify
    # Phone: caller ID the telephony marks network-verified; otherwise presented, claimed.
    (C.PHONE, K.PHONE, "+31612345678", T.CLAIMED, E.NETWORK_CALLER_ID, False, Rung.SENT_FROM),
    (C.PHONE, K.PHONE, "+31612345678", T.CLAIMED, None, False, Rung.CLAIMED),
    # Evidence of one channel means nothing on another.
    (C.WEB, K.EMAIL, "a@b.nl", T.CLAIMED, E.DMARC, False, Rung.CLAIMED),
    (C.WEB, K.PHONE, "+31612345678", T.CLAIMED, E.NETWORK_CALLER_ID, False, Rung.CLAIMED),
    (C.CHAT, K.EMAIL, "a@b.nl", T.CLAIMED, E.DMARC, False, Rung.CLAIMED),
    # Everything typed: forms, app, chat, counter, letter fields.
    (C.WEB, K.EMAIL, "a@b.nl", T.CLAIMED, None, False, Rung.CLAIMED),
    (C.WEB, K.PHONE, "+31612345678", T.CLAIMED, None, False, Rung.CLAIMED),
    (C.WEB, K.BSN, BSN, T.CLAIMED, None, False, Rung.CLAIMED),
    (C.APP, K.EMAIL, "a@b.nl", T.CLAIMED, None, False, Rung.CLAIMED),
    (C.APP, K.PHONE, "+31612345678", T.CLAIMED, None, False, Rung.CLAIMED),
    (C.CHAT, K.CHAT, "bezoeker-17", T.CLAIMED, None, False, Rung.CLAIMED),
    (C.CHAT, K.EMAIL, "a@b.nl", T.CLAIMED, None, False, Rung.CLAIMED),
    (C.COUNTER, K.EMAIL, "a@b.nl", T.CLAIMED, None, False, Rung.CLAIMED),
    (C.COUNTER, K.KVK, KVK, T.CLAIMED, None, False, Rung.CLAIMED),
    (C.LETTER, K.POSTAL_ADDRESS, "Dorpsstraat 1", T.CLAIMED, None, False, Rung.CLAIMED),
    (C.LETTER, K.EMAIL, "a@b.nl", T.CLAIMED, None, False, Rung.CLAIMED),
    (C.LETTER, K.PHONE, "+31612345678", T.CLAIMED, None, False, Rung.CLAIMED),
    # The import: the operator vouches for what the old CRM verified — only there.
    (C.EMAIL, K.EMAIL, "a@b.nl", T.VERIFIED, E.CRM_IMPORT, True, Rung.VERIFIED),
    (C.PHONE, K.PHONE, "+31612345678", T.VERIFIED, None, True, Rung.VERIFIED),
    (C.EMAIL, K.EMAIL, "a@b.nl", T.VERIFIED, E.CRM_IMPORT, False, Rung.CLAIMED),
]


@pytest.mark.parametrize(
    ("channel", "kind", "value", "trust", "evidence", "imported", "expected"), ROWS
)
def test_the_rung_comes_from_the_channels_evidence(
    channel, kind, value, trust, evidence, imported, expected
):
    identifier = SenderIdentifier(kind=kind, value=value, trust=trust, evidence=evidence)
    assert rung(channel, identifier, imported=imported) == expected


def test_every_channel_and_evidence_is_in_the_table():
    assert {r[0] for r in ROWS} == set(Channel)
    assert {r[4] for r in ROWS} - {None} == set(Evidence)


@pytest.mark.parametrize(
    ("r", "trust"),
    [
        (Rung.AUTHENTICATED, T.AUTHENTICATED),
        (Rung.VERIFIED, T.VERIFIED),
        # Sending from an address does not make it the party's own: staff verify that.
        (Rung.SENT_FROM, T.CLAIMED),
        (Rung.CLAIMED, T.CLAIMED),
    ],
)
def test_what_a_party_keeps(r, trust):
    assert stored_trust(r) == trust
