"""The cross-references of a scenario, checked when it loads: steps refer only to earlier
steps of the right kind, actors exist and fit what they do (a DigiD login needs a BSN, a
call a phone number), templates name an actor's field or an earlier step's case number."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from scenarios.steps import (
    ACTOR_FIELDS,
    MESSAGES,
    STEP_FIELDS,
    TEMPLATE,
    Business,
    DecideLink,
    Person,
    Reply,
    Staff,
    Step,
)

if TYPE_CHECKING:
    from scenarios.model import Scenario


def problems(sc: Scenario) -> Iterator[str]:
    seen: dict[str, Step] = {}
    for step in sc.steps:
        where = f"step '{step.name}'"
        if step.name in seen:
            yield f"{where}: the name is used twice"
        if step.name in sc.actors:
            yield f"{where}: the name is also an actor's name (templates would be ambiguous)"
        actor = sc.actors.get(step.actor) if step.actor else None
        if step.actor and actor is None:
            yield f"{where}: unknown actor '{step.actor}'"

        def earlier(
            ref: str | None, what: str, *, kinds: tuple[str, ...] = (), where: str = where
        ) -> Iterator[str]:
            if ref is None:
                return
            target = seen.get(ref)
            if target is None:
                yield f"{where}: {what} '{ref}' is not an earlier step"
            elif target.kind == "check":
                yield f"{where}: {what} '{ref}' is a check, not a message or action"
            elif kinds and target.kind not in kinds:
                yield f"{where}: {what} '{ref}' must be a {' or '.join(kinds)} step"

        if step.brings_message:
            if actor is not None and isinstance(actor, Staff):
                yield f"{where}: a message comes from a resident or business, not staff"
            if actor is not None and not isinstance(actor, Staff):
                yield from _channel_problems(where, step, actor)
            if step.answer:
                yield from earlier(step.answer.reply, "answer to", kinds=("reply",))
            if step.email:
                yield from earlier(step.email.in_reply_to, "in_reply_to", kinds=("email",))
            if step.phone:
                yield from earlier(step.phone.callback_of, "callback_of", kinds=("phone",))
            for e in step.message_expectations:
                for ref in (e.case, e.not_case, e.party, e.not_party, e.suggests_link_to):
                    yield from earlier(ref, "expect refers to")
        elif step.is_action:
            if actor is not None and not isinstance(actor, Staff):
                yield f"{where}: a staff action needs a staff actor"
            action = step.action
            if isinstance(action, DecideLink):
                yield from earlier(action.sender, "sender", kinds=MESSAGES)
                yield from earlier(action.known, "known")
            else:
                yield from earlier(action.case, "case")
            if isinstance(action, Reply):
                recipient = sc.actors.get(action.recipient)
                if not isinstance(recipient, Person | Business) or recipient.email is None:
                    yield f"{where}: the recipient '{action.recipient}' needs an e-mail address"
        for c in step.check or []:
            for ref in (c.case, c.party):
                yield from earlier(ref, "check of")
            for refs in (
                c.contacts_include,
                c.contacts_exclude,
                c.history_includes,
                c.history_excludes,
                c.sees,
                c.does_not_see,
            ):
                for ref in refs or []:
                    yield from earlier(ref, "check names message", kinds=MESSAGES)
            for ref in (c.queue_includes or []) + (c.queue_excludes or []):
                yield from earlier(ref, "queue names")
            for chain in c.handovers or []:
                if len([t for t in chain.split("->") if t.strip()]) != 2:
                    yield f"{where}: handover '{chain}' must read 'from-team -> to-team'"
        for text in _texts(step):
            for ref, field in TEMPLATE.findall(text):
                if ref in sc.actors:
                    a = sc.actors[ref]
                    if field not in ACTOR_FIELDS or getattr(a, field, None) is None:
                        yield f"{where}: '{{{ref}.{field}}}': actor '{ref}' has no {field}"
                elif ref in seen:
                    if field not in STEP_FIELDS:
                        yield f"{where}: '{{{ref}.{field}}}': a step only offers case_number"
                else:
                    yield f"{where}: '{{{ref}.{field}}}' names no actor or earlier step"
        seen[step.name] = step


def _channel_problems(where: str, step: Step, actor: Person | Business) -> Iterator[str]:
    kvk = getattr(actor, "kvk", None)
    bsn = getattr(actor, "bsn", None)
    login = getattr(step.action, "login", "none")
    if login == "digid" and not bsn:
        yield f"{where}: a DigiD login needs an actor with a BSN"
    if login == "eherkenning" and not kvk:
        yield f"{where}: an eHerkenning login needs a business with a KvK number"
    for ident in getattr(step.action, "send", None) or []:
        if getattr(actor, ident, None) is None:
            yield f"{where}: sends '{ident}' but actor '{step.actor}' has none"
    if (step.email or step.answer) and not actor.email:
        yield f"{where}: an e-mail needs an actor with an e-mail address"
    if step.phone and not step.phone.anonymous and not actor.phone:
        yield f"{where}: a call needs an actor with a phone number (or anonymous: true)"
    if step.counter and step.counter.id_checked and not bsn:
        yield f"{where}: an ID check at the counter needs an actor with a BSN"


def _texts(step: Step) -> Iterator[str]:
    action = step.action
    if step.kind == "check":
        return
    for attr in ("subject", "text", "notes", "topic", "summary", "reason", "result"):
        value = getattr(action, attr, None)
        if isinstance(value, str):
            yield value
    value = getattr(action, "case_number", None)
    if isinstance(value, str):
        yield value
