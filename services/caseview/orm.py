"""Caseview's read models: projections of ``omni.timeline.v1``, shaped for the queries.

Everything here except ``access_log`` and ``staff_commands`` is a projection: it can be
thrown away and rebuilt from the topic (``eenloket caseview rebuild``).
``access_log`` is the AVG processing log and ``staff_commands`` records who sent which
command (the API writes it); neither is ever rebuilt.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    Uuid,
)

from shared.db.tables import consumer_offsets_table, processed_events_table
from shared.db.types import BigId, JsonDoc, UtcDateTime

metadata = MetaData()

# Sorts after every real due date: a case without a norm is last in "most urgent first".
NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=UTC)

parties = Table(
    "parties",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("provisional", Boolean, nullable=False),
    Column("display_name", String(200)),
    Column("created_at", UtcDateTime, nullable=False),
)

# One row per word start of a party's name, normalised (casefolded, accents
# stripped): "Fatima el Amrani" -> "fatima el amrani", "el amrani", "amrani".
# Prefix search is then a LIKE 'x%' on an index.
party_name_keys = Table(
    "party_name_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("party_id", Uuid, primary_key=True),
    Index("ix_cv_name_keys_prefix", "key", postgresql_ops={"key": "text_pattern_ops"}),
)

party_identifiers = Table(
    "party_identifiers",
    metadata,
    Column("party_id", Uuid, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("value", String(400), primary_key=True),
    Column("trust", String(16), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    # Which evidence gave the rung ('digid', 'dmarc', 'staff-confirmed', ...; null: stated).
    Column("evidence", String(64)),
    Index("ix_cv_identifiers_lookup", "kind", "value"),
)

# Suggested links (a sender claims another party's identifier). Suggestion and
# decision are upserted independently, so their arrival order does not matter.
link_suggestions = Table(
    "link_suggestions",
    metadata,
    Column("suggestion_id", Uuid, primary_key=True),
    Column("party_id", Uuid, nullable=False),
    Column("suggested_party_id", Uuid, nullable=False),
    Column("identifier_kind", String(32)),
    Column("identifier_value", String(400)),
    Column("identifier_trust", String(16)),
    Column("message_id", Uuid),
    Column("suggested_at", UtcDateTime),
    Column("decision", String(16)),  # confirmed | rejected | NULL (pending)
    Column("decided_by", String(200)),
    Column("decided_team", String(64)),
    Column("decision_reason", Text),
    Column("decided_at", UtcDateTime),
    Index("ix_cv_suggestions_party", "party_id"),
    Index("ix_cv_suggestions_suggested", "suggested_party_id"),
)

# A merge is a pointer: merged_party_id -> party_id while active (merged and not
# undone). Resolved at query time, so the merged party's own events and the
# merge event may arrive in any order. Nothing is ever deleted.
party_merges = Table(
    "party_merges",
    metadata,
    Column("merge_id", Uuid, primary_key=True),
    Column("party_id", Uuid, nullable=False),
    Column("merged_party_id", Uuid, nullable=False),
    Column("merged_by", String(200)),
    Column("merged_team", String(64)),
    Column("merge_reason", Text),
    Column("merged_at", UtcDateTime),
    Column("unmerged_by", String(200)),
    Column("unmerged_team", String(64)),
    Column("unmerge_reason", Text),
    Column("unmerged_at", UtcDateTime),
    Index("ix_cv_merges_party", "party_id"),
    Index("ix_cv_merges_merged", "merged_party_id"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("number", String(32), nullable=False, unique=True),
    Column("party_id", Uuid, nullable=False, index=True),
    Column("product", String(200)),
    Column("confidential", Boolean, nullable=False),  # as the router decided
    Column("status", String(32), nullable=False),
    Column("is_open", Boolean, nullable=False),
    Column("owner_team", String(64), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime),
    Column("queue_due", UtcDateTime, nullable=False),  # due_at, or NO_DUE_DATE
    Column("closed_at", UtcDateTime),
    Column("result", Text),
    Column("handover_count", Integer, nullable=False),
    Column("last_activity_at", UtcDateTime, nullable=False),
    Column("merged_into", Uuid),  # folded into another case (case.merged): not listed
    # The team queue, both sort orders, as index range scans (keyset on id).
    Index("ix_cv_cases_queue_age", "owner_team", "is_open", "opened_at", "id"),
    Index("ix_cv_cases_queue_due", "owner_team", "is_open", "queue_due", "id"),
)

case_participants = Table(
    "case_participants",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("team", String(64), primary_key=True),
    Column("added_at", UtcDateTime, nullable=False),
    Column("added_by", String(200), nullable=False),
    Column("reason", Text),
    Index("ix_cv_participants_team", "team", "case_id"),
)

case_handovers = Table(
    "case_handovers",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("case_id", Uuid, nullable=False),
    Column("from_team", String(64), nullable=False),
    Column("to_team", String(64), nullable=False),
    Column("by_user", String(200), nullable=False),
    Column("by_team", String(64)),
    Column("reason", Text, nullable=False),
    Column("handover_count", Integer, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_cv_handovers_case", "case_id", "at"),
)

# A live contact is recorded within seconds (minutes when Kafka lagged); an hour apart is
# history brought in later (an import, a late scan): it is marked, with its recording time
# shown, and sorts at its own moment.
IMPORTED_AFTER = timedelta(hours=1)

# One row per history event. ``position`` is the live-update cursor (SSE event id):
# assigned in commit order, see projector.py. The history order is (sort_at, party_id,
# sequence): sort_at is when Eenloket recorded the entry, never before the party's previous
# one (a party's live history is its sequence order), except for history brought in later,
# which sits at its own moment (``occurred_at``; services/caseview/sinks.py: entry_row).
# ``recorded_at`` is when Eenloket recorded it.
timeline_entries = Table(
    "timeline_entries",
    metadata,
    Column("position", BigId, primary_key=True, autoincrement=True),
    Column("event_id", Uuid, nullable=False, unique=True),
    Column("party_id", Uuid, nullable=False),
    Column("sequence", BigId, nullable=False),
    Column("sort_at", UtcDateTime, nullable=False),
    Column("case_id", Uuid),
    Column("message_id", Uuid, unique=True),
    Column("type", String(128), nullable=False),
    Column("channel", String(16)),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime),  # null on rows projected before migration 0007
    Column("prev_team", String(64)),  # the team a handover or removal took the case from
    Column("body", JsonDoc, nullable=False),
    Index("ix_cv_timeline_party_order", "party_id", "sort_at", "sequence"),
    Index("ix_cv_timeline_case_order", "case_id", "sort_at", "sequence"),
)

# Replies to the resident (issue #17): the latest state of each, and every status it had.
replies = Table(
    "replies",
    metadata,
    Column("reply_id", Uuid, primary_key=True),
    Column("case_id", Uuid, nullable=False),
    Column("party_id", Uuid, nullable=False),
    Column("identifier_id", Uuid, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("recipient_trust", String(16), nullable=False),
    Column("template", String(100)),
    Column("subject", String(200)),
    Column("text", Text, nullable=False),
    Column("notice_only", Boolean, nullable=False),
    Column("attachments", JsonDoc, nullable=False),  # AttachmentRefs (no bytes)
    Column("requested_by", String(200), nullable=False),
    Column("requested_team", String(64)),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_at", UtcDateTime, nullable=False),
    # A fallback (docs/outbound.md#fallback): the reply that could not reach the resident.
    Column("fallback_of", Uuid),
    Index("ix_cv_replies_case", "case_id", "requested_at"),
    Index("ix_cv_replies_fallback_of", "fallback_of"),
)

# A party's contact preferences (issue #17): the reply channel when staff name none, the
# channels the resident opted out of; one row for the party that survives merges.
contact_preferences = Table(
    "contact_preferences",
    metadata,
    Column("party_id", Uuid, primary_key=True),
    Column("preferred_channel", String(16)),
    Column("opted_out", JsonDoc, nullable=False),  # reply channel names
    Column("reason", Text, nullable=False),
    Column("changed_by", String(200), nullable=False),
    Column("changed_team", String(64)),
    Column("changed_at", UtcDateTime, nullable=False),
)

reply_statuses = Table(
    "reply_statuses",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("reply_id", Uuid, nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", Text),
    Column("reference", String(400)),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_cv_reply_statuses_reply", "reply_id", "at"),
)

# The AVG processing log ("verwerkingenlogging"): who read which party or case, when, why.
access_log = Table(
    "access_log",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("user", String(200), nullable=False),
    Column("teams", String(1000), nullable=False),
    Column("roles", String(500), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("party_id", Uuid),
    Column("case_id", Uuid),
    Column("team", String(64)),
    Column("purpose", String(500)),
    Column("outcome", String(16), nullable=False),  # ok | not-found | denied
    Column("detail", String(200)),
    Index("ix_cv_access_log_at", "at", "id"),
    Index("ix_cv_access_log_party", "party_id", "id"),
    Index("ix_cv_access_log_user", "user", "id"),
)

# Staff commands caseview published (written by the API before it publishes; not a
# projection, like the access log): who sent it, so the status is theirs to read.
staff_commands = Table(
    "staff_commands",
    metadata,
    Column("id", Uuid, primary_key=True),  # the command id (CloudEvent id)
    Column("type", String(128), nullable=False),
    Column("user", String(200), nullable=False),
    Column("team", String(64)),  # the team the user acted for (by.team)
    Column("case_id", Uuid),
    Column("party_id", Uuid),  # the party a party command concerns
    Column("accepted_at", UtcDateTime, nullable=False),
)

# What became of a command (projected from the timeline): ``applied`` (an event with the
# command's id as ``causationid``) or ``rejected`` (``command.rejected``, with the reason).
command_outcomes = Table(
    "command_outcomes",
    metadata,
    Column("command_id", Uuid, primary_key=True),
    Column("status", String(16), nullable=False),  # applied | rejected
    Column("reason", Text),
    Column("command_type", String(128)),
    Column("case_id", Uuid),
    Column("party_id", Uuid),
    Column("by_user", String(200)),
    Column("by_team", String(64)),
    Column("at", UtcDateTime, nullable=False),
)

processed_events = processed_events_table(metadata)
consumer_offsets = consumer_offsets_table(metadata)

# What the rebuild replaces (and hashes): every projection, not the access log.
PROJECTION_TABLES: tuple[Table, ...] = (
    parties,
    party_name_keys,
    party_identifiers,
    link_suggestions,
    party_merges,
    cases,
    case_participants,
    case_handovers,
    timeline_entries,
    command_outcomes,
    replies,
    reply_statuses,
    contact_preferences,
)
