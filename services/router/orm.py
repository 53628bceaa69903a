"""The router's tables: parties, identifiers, suggested links, merges, cases; plus the shared
consumer/outbox tables.

Shaped after VNG Klantinteracties (partij, partij-identificator), so that a
Klantinteracties API later is a mapping, not a rewrite.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from shared.db.tables import consumer_offsets_table, outbox_table, processed_events_table
from shared.db.types import BigId, JsonDoc, UtcDateTime

metadata = MetaData()

parties = Table(
    "parties",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("provisional", Boolean, nullable=False),
    Column("display_name", String(200)),
    # The address an unknown sender is recognised by when writing again; unique, so
    # two replicas racing on the same new sender cannot create two parties.
    Column("origin", String(400), unique=True),
    Column("version", BigId, nullable=False),  # last `sequence` used on the timeline
    Column("merged_into", Uuid, ForeignKey("parties.id")),
    Column("created_at", UtcDateTime, nullable=False),
    Index(
        "ix_parties_merged_into",
        "merged_into",
        postgresql_where=text("merged_into IS NOT NULL"),
        sqlite_where=text("merged_into IS NOT NULL"),
    ),
)

# The foreign keys of the tables every routed message writes (party_identifiers,
# link_suggestions, cases.party_id, contacts.case_id) exist on SQLite only: PostgreSQL drops
# them (migration 0008: a check per row, a third of its work; the router is their only
# writer and never deletes a party or a case). They stay declared here for SQLite and as
# documentation of what refers to what.
party_identifiers = Table(
    "party_identifiers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("party_id", Uuid, ForeignKey("parties.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("value", String(400), nullable=False),
    Column("trust", String(16), nullable=False),
    Column("source_message_id", Uuid),
    Column("created_at", UtcDateTime, nullable=False),
    # One party per authenticated/verified identifier.
    Index(
        "ux_party_identifiers_strong",
        "kind",
        "value",
        unique=True,
        postgresql_where=text("trust <> 'claimed'"),
        sqlite_where=text("trust <> 'claimed'"),
    ),
    Index("ix_party_identifiers_lookup", "kind", "value"),
)

link_suggestions = Table(
    "link_suggestions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("party_id", Uuid, ForeignKey("parties.id"), nullable=False),
    Column("suggested_party_id", Uuid, ForeignKey("parties.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("value", String(400), nullable=False),
    Column("trust", String(16), nullable=False),
    Column("message_id", Uuid, nullable=False),
    Column("status", String(16), nullable=False),  # pending | confirmed | rejected
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime),
    Column("decided_by", String(200)),
    # Suggested once per pair: a rejected suggestion is not made again.
    UniqueConstraint("party_id", "suggested_party_id", name="uq_link_suggestions_pair"),
)

merges = Table(
    "merges",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("party_id", Uuid, ForeignKey("parties.id"), nullable=False),
    Column("merged_party_id", Uuid, ForeignKey("parties.id"), nullable=False),
    Column("by_user", String(200), nullable=False),
    Column("by_team", String(64)),
    Column("reason", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("undone_at", UtcDateTime),
    Column("undone_by", String(200)),
    Column("undo_reason", Text),
)

# What a merge changed, for its undo: "fold" (key: case id, detail: its status before),
# "contact" (key: message id), "ref" (key: thread reference), each with the case it came
# from; "verified" (key: the identifier row that the merge decision verified).
merge_effects = Table(
    "merge_effects",
    metadata,
    Column("merge_id", Uuid, ForeignKey("merges.id"), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("key", String(1000), primary_key=True),
    Column("case_id", Uuid),
    Column("detail", String(64)),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("party_id", Uuid, ForeignKey("parties.id"), nullable=False, index=True),
    Column("product", String(200)),
    Column("confidential", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
    Column("owner_team", String(64), nullable=False),
    Column("handover_count", Integer, nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("last_activity_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("result", Text),
    Column("merged_into", Uuid),  # folded into another case (see CaseMerged)
    Column("establishment", String(12)),
)

# Which case each routed message joined, and the other party's case it pointed at (a
# quoted number or thread), so a confirmed link can fold the contact into that case. The
# channel's own message id (an e-mail's Message-ID) threads a reply into the resident's mail.
contacts = Table(
    "contacts",
    metadata,
    Column("message_id", Uuid, primary_key=True),
    Column("case_id", Uuid, ForeignKey("cases.id"), nullable=False, index=True),
    Column("referenced_case_id", Uuid),
    Column("channel", String(16)),
    Column("channel_message_id", String(1000)),
    Column("received_at", UtcDateTime),
)

# The replies staff asked for (issue #17): a status reported by the outbound service is
# recorded on the timeline of the reply's case's party; an unknown reply id is skipped.
replies = Table(
    "replies",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("case_id", Uuid, ForeignKey("cases.id"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    # The SendReply and the recipient's trust: a fallback repeats it on another channel.
    Column("request", JsonDoc),
)

# A party's contact preferences (issue #17): the default reply channel and the opt-outs.
contact_preferences = Table(
    "contact_preferences",
    metadata,
    Column("party_id", Uuid, ForeignKey("parties.id"), primary_key=True),
    Column("preferred_channel", String(16)),
    Column("opted_out", JsonDoc, nullable=False),  # reply channel names
    Column("changed_at", UtcDateTime, nullable=False),
)

case_participants = Table(
    "case_participants",
    metadata,
    Column("case_id", Uuid, ForeignKey("cases.id"), primary_key=True),
    Column("team", String(64), primary_key=True),
)

# Conversation references (e-mail Message-IDs, chat sessions, app conversations, calls)
# that tie later messages to the case.
case_thread_refs = Table(
    "case_thread_refs",
    metadata,
    Column("ref", String(1000), primary_key=True),
    Column("case_id", Uuid, ForeignKey("cases.id"), nullable=False),
)

case_number_counters = Table(
    "case_number_counters",
    metadata,
    Column("year", Integer, primary_key=True),
    Column("last_serial", BigId, nullable=False),
)

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
consumer_offsets = consumer_offsets_table(metadata)
