"""A party's contact preferences (issue #17): the channel a reply takes when staff name none,
and the channels the resident opted out of. Kept on the party that survives merges; a reply
on an opted-out channel is refused (replies.py) and never chosen as a fallback."""

from __future__ import annotations

from services.router.commands.context import CommandContext, Rejected
from services.router.store.protocol import ContactPreferences
from shared.contracts import commands as c
from shared.contracts.outbound import ContactPreferencesChanged


async def set_contact_preferences(cmd: c.SetContactPreferences, x: CommandContext) -> None:
    if not await x.store.party_exists(cmd.party_id):
        raise Rejected("onbekende partij")
    party_id = await x.store.survivor(cmd.party_id)
    party = await x.store.lock_party(party_id)
    opted_out = sorted(set(cmd.opted_out))
    prefs = ContactPreferences(
        None if cmd.preferred_channel is None else cmd.preferred_channel.value,
        frozenset(ch.value for ch in opted_out),
    )
    if prefs == await x.store.contact_preferences(party_id):
        raise Rejected("de contactvoorkeuren zijn al zo ingesteld")
    await x.store.set_contact_preferences(party_id, prefs, x.now)
    x.history.record(
        party,
        ContactPreferencesChanged(
            party_id=party_id,
            preferred_channel=cmd.preferred_channel,
            opted_out=opted_out,
            reason=cmd.reason,
            by=cmd.by,
            at=x.now,
        ),
        aggregate="party",
    )
