"""Print a scenario's report with rich: the script as played, the unified history of each
party, the cases (owner, participants, handovers) with what each team may see, and the
expectations (passed, failed, known gaps)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from scenarios.results import PartyOverview, ScenarioReport

SHORT = 70
REPLY_STATUS = {
    "requested": "gevraagd",
    "sent": "verzonden",
    "delivered": "afgeleverd",
    "bounced": "onbestelbaar",
    "failed": "mislukt",
    "handed-to-print": "naar de drukker",
}


def _short(value: Any, n: int = SHORT) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _team(by: Any) -> str:
    if isinstance(by, dict):
        return str(by.get("team") or by.get("user") or "")
    return ""


def describe(item: dict[str, Any]) -> str:
    """One line for a history entry, as a colleague would read it."""
    if item.get("redacted"):
        return "(vertrouwelijk: alleen eigenaar en deelnemers zien de inhoud)"
    d = item["data"]
    kind = item["type"].removeprefix("nl.eenloket.")
    match kind:
        case "party.created":
            what = "voorlopige partij" if d.get("provisional") else "partij"
            return f"{what} '{d.get('display_name') or '?'}'"
        case "party.identifier-added":
            ident = d.get("identifier", {})
            return f"kenmerk {ident.get('kind')} ({ident.get('trust')}) toegevoegd"
        case "party.link-suggested":
            ident = d.get("identifier", {})
            return f"koppeling voorgesteld via {ident.get('kind')} ({ident.get('trust')})"
        case "party.link-decided":
            verdict = "bevestigd" if d.get("confirmed") else "afgewezen"
            return f"koppeling {verdict} door {_team(d.get('by'))}: {_short(d.get('reason'), 50)}"
        case "party.merged":
            return f"partijen samengevoegd: {_short(d.get('reason'), 50)}"
        case "case.opened":
            return (
                f"zaak geopend, product {d.get('product') or '—'}, eigenaar {d.get('owner_team')}"
            )
        case "message.routed":
            flags = [f["kind"] for f in d.get("flags", [])]
            rule = d.get("explanation", {}).get("case_rule", "")
            extra = f" [{rule}{'; ' + ', '.join(flags) if flags else ''}]"
            return _short(d.get("subject") or d.get("text"), SHORT - len(extra)) + extra
        case "case.handed-over":
            return (
                f"overgedragen {d.get('from_team')} → {d.get('to_team')} "
                f"(#{d.get('handover_count')}): {_short(d.get('reason'), 40)}"
            )
        case "case.participant-added":
            return f"{d.get('team')} neemt deel: {_short(d.get('reason'), 45)}"
        case "case.participant-removed":
            return f"{d.get('team')} neemt niet meer deel"
        case "case.note-added":
            return f"notitie {_team(d.get('by'))}: {_short(d.get('text'), 50)}"
        case "case.status-changed":
            return f"status {d.get('from_status')} → {d.get('to_status')}"
        case "case.closed":
            return f"afgehandeld: {_short(d.get('result'), 55)}"
        case "contact.outbound-registered":
            return f"gemeente → inwoner ({d.get('channel')}): {_short(d.get('summary'), 45)}"
        case "reply.requested":
            notice = " (alleen kennisgeving)" if d.get("notice_only") else ""
            return (
                f"antwoord aan inwoner ({d.get('channel')}){notice}: "
                f"{_short(d.get('subject') or d.get('text'), 40)}"
            )
        case "reply.status-changed":
            status = REPLY_STATUS.get(d.get("status", ""), d.get("status"))
            reason = f": {_short(d.get('reason'), 40)}" if d.get("reason") else ""
            return f"antwoord {status}{reason}"
        case "command.rejected":
            return f"opdracht geweigerd: {_short(d.get('reason'), 55)}"
    return ""


def _steps(report: ScenarioReport) -> Table:
    table = Table(title="Script", title_justify="left", expand=False)
    for column in ("#", "step", "actor", "via", "zaak", "eigenaar", "uitkomst", "check"):
        table.add_column(column, overflow="fold")
    by_step: dict[str, list[str]] = {}
    for o in report.outcomes:
        mark = "✓" if o.ok else ("gap" if o.gap else "✗")
        if o.gap_now_passes:
            mark = "gap✓"
        by_step.setdefault(o.step, []).append(mark)
    for i, s in enumerate(report.steps, 1):
        if s.kind == "check":
            outcome = "controle"
        elif s.refused:
            outcome = f"geweigerd ({s.refused})"
        elif s.rejected:
            outcome = f"afgewezen: {_short(s.rejected, 30)}"
        elif s.reply_id:
            outcome = f"antwoord {REPLY_STATUS.get(s.reply_status or '', s.reply_status)}"
        elif s.message_id:
            outcome = (s.case_rule or "") + (f" {s.flags}" if s.flags else "")
        else:
            outcome = "uitgevoerd"
        marks = by_step.get(s.name, [])
        style = "red" if "✗" in marks else ("yellow" if any("gap" in m for m in marks) else "")
        table.add_row(
            str(i),
            s.name,
            s.actor or "",
            f"{s.kind} · {s.transport}" if s.transport else s.kind,
            s.case_number or "",
            s.owner or "",
            outcome,
            Text(" ".join(marks), style=style),
        )
    return table


def _history(party: PartyOverview) -> Table:
    kind = "voorlopige partij" if party.provisional else "partij"
    title = (
        f"Eén historie: {party.display_name or '?'} ({kind}, actor {party.label}"
        f"{f', {party.members} samengevoegd' if party.members > 1 else ''})"
    )
    table = Table(title=title, title_justify="left")
    for column in ("tijd", "gebeurtenis", "kanaal", "zaak", "wat"):
        table.add_column(column, overflow="fold")
    for item in party.timeline:
        table.add_row(
            item["occurred_at"][11:19],
            item["type"].removeprefix("nl.eenloket."),
            item.get("channel") or "",
            (item["data"].get("case_number") or "")[-6:],
            describe(item),
        )
    return table


def _cases(party: PartyOverview, teams: list[str]) -> Table:
    table = Table(
        title="Zaken: eigenaar, deelnemers, overdrachten, wie wat ziet", title_justify="left"
    )
    for column in ("zaak", "product", "status", "eigenaar", "deelnemers", "overdrachten", *teams):
        table.add_column(column, overflow="fold")
    for c in party.cases:
        chain = "; ".join(
            f"{h['from_team']}→{h['to_team']}: {_short(h['reason'], 40)}" for h in c.handovers
        )
        table.add_row(
            c.number,
            (c.product or "—") + (" 🔒" if c.confidential else ""),
            c.status or "",
            c.owner,
            ", ".join(c.participants) or "—",
            f"{c.handover_count}" + (f" ({chain})" if chain else ""),
            *(
                Text("ziet inhoud", style="green")
                if c.visibility.get(t)
                else Text("afgeschermd", style="dim")
                for t in teams
            ),
        )
    return table


def print_report(report: ScenarioReport, console: Console, *, verbose: bool = True) -> None:
    sc = report.scenario
    lessons = ", ".join(str(n) for n in sc.lessons)
    console.rule(f"[bold]{sc.title}[/bold]  ·  {sc.municipality}  ·  lessen {lessons}")
    console.print(Text(" ".join(sc.summary.split()), style="italic"))
    console.print(_steps(report))
    if verbose:
        for party in report.parties:
            console.print(_history(party))
            if party.cases:
                console.print(_cases(party, report.teams))
    lines: list[Text] = []
    for o in report.failures:
        lines.append(Text(f"✗ [{o.step}] {o.label}\n    {o.detail}", style="red"))
    for o in report.known_gaps:
        lines.append(
            Text(f"gap [{o.step}] {o.label}\n    {o.detail}\n    waarom: {o.gap}", style="yellow")
        )
    for o in report.gaps_now_passing:
        lines.append(Text(f"gap✓ [{o.step}] passes now; remove its gap marker", style="yellow"))
    if report.aborted:
        lines.append(Text(f"afgebroken: {report.aborted}", style="bold red"))
    passed = sum(1 for o in report.outcomes if o.ok and o.gap is None)
    verdict = (
        Text("GESLAAGD", style="bold green") if report.passed else Text("MISLUKT", style="bold red")
    )
    head = Text.assemble(
        verdict,
        f"  {passed} verwachtingen gehaald, {len(report.failures)} niet, "
        f"{len(report.known_gaps)} bekende gaten · {len(report.steps)} stappen in "
        f"{report.seconds:.1f}s (run {report.run})",
    )
    console.print(Panel(Group(head, *lines), expand=False))


def print_summary(reports: list[ScenarioReport], console: Console) -> None:
    table = Table(title="Scenario's", title_justify="left")
    for column in ("scenario", "stappen", "gehaald", "mislukt", "bekende gaten", "tijd"):
        table.add_column(column)
    for r in reports:
        table.add_row(
            r.scenario.name,
            str(len(r.steps)),
            str(sum(1 for o in r.outcomes if o.ok and o.gap is None)),
            Text(str(len(r.failures)), style="red" if r.failures else "green"),
            Text(str(len(r.known_gaps)), style="yellow" if r.known_gaps else ""),
            f"{r.seconds:.1f}s",
        )
    console.print(table)
