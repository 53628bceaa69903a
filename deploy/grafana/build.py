"""Generates the Grafana dashboards (deploy/grafana/dashboards/*.json) from short panel lists.

Run `python deploy/grafana/build.py` after changing a panel; tests/unit/test_dashboards.py
checks that the committed JSON equals what this produces, that every metric and label a
panel's PromQL names exists in the code, that every dashboard has the team variable, and that
gauges are aggregated so that router replicas do not multiply them.

Aggregating over replicas (each one is a separate scrape target):
- counters and histogram buckets count disjoint events per replica: `sum` of their `rate`;
- gauges every replica reads from the same database (outbox backlog), or that one elected
  replica publishes (open, overdue, pending): `max`, which is also right for a moment in
  which two replicas publish during a change of leader;
- consumer lag: one value per partition (`max by (group, topic, partition)`, a partition has
  one owner at a time) and then `sum` over partitions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards"

# The one variable every dashboard has. All means every team, also ones that have no open
# case right now (allValue `.*`), so an "All" panel equals one without the filter.
TEAM_QUERY = "label_values(eenloket_router_open_cases, team)"
TEAM_NOTE = {
    "en": "Team variable not applied: ",
    "nl": "Teamkeuze geldt hier niet: ",
}
NO_TEAM_LABEL = {
    "en": "its metrics carry no team label.",
    "nl": "dit getal heeft geen teamlabel.",
}


@dataclass(frozen=True)
class Panel:
    title: str
    expr: str
    unit: str
    kind: str
    # What it shows and what to do when it looks bad.
    description: str
    # Why the panel ignores the team variable although its metrics carry a team label; a panel
    # without `$team` whose metrics carry none gets NO_TEAM_LABEL.
    no_team: str = ""


@dataclass(frozen=True)
class Dashboard:
    title: str
    language: str  # "nl" for the team leads' dashboard, "en" for the operators' ones
    panels: list[Panel]


DASHBOARDS: dict[str, Dashboard] = {
    "intake": Dashboard(
        "Eenloket — intake and channels",
        "en",
        [
            Panel(
                "Accepted per channel (/s)",
                "sum by (channel) (rate(eenloket_ingest_accepted_total[5m]))",
                "reqps",
                "timeseries",
                "Messages per second that Kafka acknowledged (the sender got its 202 or SMTP 250),"
                " per channel; every ingest replica counts its own requests, so the sum is the"
                " total. Bad: a channel at zero while its integration should be sending — check"
                " that integration's key and the refused panel; every channel at zero — check"
                " ingest's /readyz and whatever routes traffic to it.",
            ),
            Panel(
                "Refused per reason (/s)",
                "sum by (channel, reason) (rate(eenloket_ingest_rejected_total[5m]))",
                "reqps",
                "timeseries",
                "Requests ingest refused, per channel and reason (services/ingest/rejections.py),"
                " summed over replicas (each counts its own). Bad: kafka-unavailable or"
                " storage-unavailable — ingest's dependencies are away, see IngestRefusingForKafka"
                " in docs/operations.md; unauthenticated, forbidden, invalid or too-large rising on"
                " one channel — that integration sends what it should not: contact its owner.",
            ),
            Panel(
                "Re-sent messages recognised (/s)",
                "sum by (channel) (rate(eenloket_ingest_duplicates_total[5m]))",
                "reqps",
                "timeseries",
                "Requests whose idempotency key ingest had already accepted: answered with the same"
                " message id, not published again (summed over replicas). Bad: a rise means"
                " integrations retry a lot, usually after timeouts or 503s — look at the ack"
                " latency and refused panels.",
            ),
            Panel(
                "Receipt to Kafka ack, p99",
                "histogram_quantile(0.99, sum by (le, channel) "
                "(rate(eenloket_ingest_kafka_ack_seconds_bucket[5m])))",
                "s",
                "timeseries",
                "Time from receipt to Kafka's acknowledgement (acks=all), p99 per channel; the"
                " buckets of all replicas are summed before the quantile, which is how histograms"
                " merge. Senders wait this long for their answer. Bad: well above 100 ms — the"
                " brokers or their in-sync replicas are slow: check Kafka's disks and network.",
            ),
        ],
    ),
    "routing": Dashboard(
        "Eenloket — routing and ownership",
        "en",
        [
            Panel(
                "Routed per owning team (/s)",
                'sum by (team) (rate(eenloket_router_messages_routed_total{team=~"$team"}[5m]))',
                "reqps",
                "timeseries",
                "Messages the router placed in a case, per team that owns the case (each router"
                " replica counts the partitions it consumes: the sum is the total). Bad: a team"
                " that suddenly gets nothing, or everything — a routing-file change moved a"
                " product (docs/routing.md; `eenloket routing check`).",
            ),
            Panel(
                "Case matching rule (/s)",
                "sum by (case_rule) "
                '(rate(eenloket_router_messages_routed_total{team=~"$team"}[5m]))',
                "reqps",
                "timeseries",
                "How each routed message found its case: by case number, by thread, by the party's"
                " open case of the product, or as a new case (summed over replicas). Bad: new-case"
                " rising while the others fall — replies no longer carry the case number or"
                " thread (check the channels' reply handling).",
            ),
            Panel(
                "No product recognised → KCC (share)",
                "sum(rate(eenloket_router_messages_routed_total"
                '{owner_rule="default-owner"}[1h])) / '
                "sum(rate(eenloket_router_messages_routed_total"
                '{case_rule="new-case"}[1h]))',
                "percentunit",
                "stat",
                "Share of new cases that went to the contact centre because no product keyword"
                " matched (rates summed over replicas on both sides). Bad: above a few tenths —"
                " residents use words the routing file does not know: add keywords"
                " (docs/routing.md).",
                no_team="a share of all new cases; per team it would measure something else.",
            ),
            Panel(
                "Pillar to post: handovers per closed case, p90",
                "histogram_quantile(0.9, sum by (le) "
                "(rate(eenloket_router_handovers_per_case_bucket[1d])))",
                "none",
                "stat",
                "Nine in ten cases closed in the last day were handed over at most this many times"
                " (buckets summed over replicas). Bad: 3 or more — residents are sent from pillar"
                " to post; see HandoverChains in docs/operations.md.",
            ),
            Panel(
                "Handovers between teams (per hour)",
                "sum by (from_team, to_team) "
                '(increase(eenloket_router_handovers_total{from_team=~"$team"}[1h])) or '
                "sum by (from_team, to_team) "
                '(increase(eenloket_router_handovers_total{to_team=~"$team"}[1h]))',
                "none",
                "table",
                "Cases handed from one team to another, per pair, where either side is a chosen"
                " team (summed over replicas: each counts the commands it carried out). Bad: a"
                " pair passing cases back and forth — the routing file sends that product to the"
                " wrong first team (docs/routing.md).",
            ),
            Panel(
                "Suggested identity links made (per hour)",
                "sum(increase(eenloket_router_links_suggested_total[1h]))",
                "none",
                "stat",
                "Links between parties the router suggests because a sender typed an identifier it"
                " could not prove (summed over replicas). Bad: many more than usual — one channel"
                " may have stopped passing its login; the teams' pending-links panel shows the"
                " work this makes.",
            ),
            Panel(
                "Possible duplicate parties flagged (per hour)",
                "sum(increase(eenloket_router_duplicates_flagged_total[1h]))",
                "none",
                "stat",
                "Messages carrying identifiers of two different parties, flagged as a possible"
                " duplicate person (summed over replicas). Bad: a jump — an import or integration"
                " mixes up whose identifiers it sends; check its last deliveries.",
            ),
            Panel(
                "Staff commands rejected (per hour)",
                "sum by (command) (increase(eenloket_router_commands_rejected_total[1h]))",
                "none",
                "table",
                "Staff commands from caseview the router refused, per command (summed over"
                " replicas). Bad: a steady stream for one command — the console offers something"
                " the router does not allow (a stale screen or a bug): file it with the router's"
                " log lines.",
            ),
        ],
    ),
    "teams": Dashboard(
        "Eenloket — werkvoorraad en termijnen per team (teamleiders)",
        "nl",
        [
            Panel(
                "Open zaken per team",
                'max by (team) (eenloket_router_open_cases{team=~"$team"})',
                "none",
                "bargauge",
                "Zaken die nog niet gesloten zijn, per team dat eigenaar is, elke 30 seconden"
                " geteld in de database van de router. Eén router-replica publiceert dit getal;"
                " max in plaats van optellen, zodat het bij een wissel van die replica niet even"
                " dubbel telt. Slecht: een stapel die dagen achter elkaar groeit — zijn er genoeg"
                " mensen ingeroosterd, of komen zaken bij het verkeerde team binnen (zie de"
                " overdrachten hieronder)?",
            ),
            Panel(
                "Zaken over de termijn per team",
                'max by (team) (eenloket_router_overdue_cases{team=~"$team"})',
                "none",
                "bargauge",
                "Open zaken waarvan de termijn (de servicenorm uit het routeringsbestand:"
                " werkdagen per kanaal en product) verstreken is. Eén router-replica publiceert"
                " dit getal (max: zie open zaken). Slecht: elke zaak hier is een"
                " normoverschrijding (melding NormBreaches). Pak ze op, draag ze met een reden"
                " over, of zet de status op 'wacht op inwoner' als de inwoner aan zet is.",
            ),
            Panel(
                "Aandeel open zaken over de termijn",
                'max by (team) (eenloket_router_overdue_cases{team=~"$team"}) / '
                '(max by (team) (eenloket_router_open_cases{team=~"$team"}) > 0)',
                "percentunit",
                "bargauge",
                "Welk deel van de open zaken van een team over de termijn is (teams zonder open"
                " zaken vallen weg). Slecht: een groeiend deel bij een gelijke stapel — het team"
                " werkt de nieuwste zaken eerst af; sorteer de wachtrij in de console op 'eerste"
                " termijn eerst'.",
            ),
            Panel(
                "Voorgestelde koppelingen die op een mens wachten",
                "max(eenloket_router_suggested_links_pending)",
                "none",
                "stat",
                "Voorstellen om twee partijen te koppelen (iemand typte een gegeven dat niet"
                " bewezen is) die nog niemand heeft beoordeeld. Eén router-replica publiceert dit"
                " getal (max). Slecht: een getal dat blijft oplopen — tijdlijnen van dezelfde"
                " inwoner blijven gesplitst; wijs iemand aan die de voorstellen in de console"
                " afhandelt.",
            ),
            Panel(
                "Nieuwe zaken per team (per dag)",
                "sum by (team) (increase(eenloket_router_messages_routed_total"
                '{case_rule="new-case",team=~"$team"}[1d]))',
                "none",
                "bargauge",
                "Zaken die de afgelopen dag zijn geopend, per team dat eigenaar werd (elke"
                " router-replica telt zijn eigen berichten: optellen is juist). Slecht: veel meer"
                " dan het team afhandelt — de werkvoorraad groeit; verdeel werk of vraag"
                " capaciteit.",
            ),
            Panel(
                "Overdrachten weg van elk team (per dag)",
                "sum by (from_team) "
                '(increase(eenloket_router_handovers_total{from_team=~"$team"}[1d]))',
                "none",
                "bargauge",
                "Zaken die een team de afgelopen dag aan een ander team heeft overgedragen"
                " (optellen over replica's is juist: elke replica telt zijn eigen opdrachten)."
                " Slecht: een team dat veel doorstuurt krijgt zaken die niet bij hem horen — meld"
                " welke producten het zijn, dan past de functioneel beheerder het"
                " routeringsbestand aan.",
            ),
            Panel(
                "Overdrachten naar elk team (per dag)",
                "sum by (to_team) "
                '(increase(eenloket_router_handovers_total{to_team=~"$team"}[1d]))',
                "none",
                "bargauge",
                "Zaken die een team de afgelopen dag van een ander team heeft gekregen (optellen"
                " over replica's is juist). Slecht: een team dat veel ontvangt, kreeg die zaken"
                " eerst niet — de inwoner wacht langer; de tabel met overdrachten tussen teams op"
                " het routeringsdashboard laat zien welke teams ze doorsturen.",
            ),
        ],
    ),
    "pipeline": Dashboard(
        "Eenloket — pipeline health",
        "en",
        [
            Panel(
                "Consumer lag per group",
                "sum by (group) (max by (group, topic, partition) (eenloket_consumer_lag))",
                "none",
                "timeseries",
                "Records on Kafka that a consumer group has not applied yet. One value per"
                " partition (max: a partition has one owner at a time, so two replicas reporting"
                " it around a rebalance must not count twice), summed over partitions. Bad:"
                " growing for minutes — that service is behind: scale its replicas up to the"
                " topic's partition count, or look at batch apply time for a slow database.",
            ),
            Panel(
                "Consumer lag per partition and replica",
                "max by (group, topic, partition, instance) (eenloket_consumer_lag)",
                "none",
                "table",
                "The same lag per partition, with the replica (instance) that reports it. Bad: one"
                " partition far behind the others — one sender floods it (keys are per sender) or"
                " the replica that owns it is stuck: check its /readyz and log. A partition listed"
                " under two replicas: the one that lost it in a rebalance keeps its last value"
                " until it restarts (the group panel above counts the larger one).",
            ),
            Panel(
                "Dead letters (per hour)",
                "sum by (group, reason) (increase(eenloket_dead_letters_total[1h]))",
                "none",
                "timeseries",
                "Records a consumer could not apply after its retries, sent to omni.deadletter.v1"
                " untouched (summed over replicas: each counts its own). Bad: anything — inspect"
                " and replay them with `eenloket deadletters` once the cause is fixed.",
            ),
            Panel(
                "Outbox backlog",
                "max(eenloket_outbox_backlog)",
                "none",
                "stat",
                "Outbox rows the router has committed but not yet published to omni.timeline.v1."
                " Every router replica counts the same table, so the panel takes the max (a sum"
                " would multiply it by the replicas). Bad: growing — see OutboxStuck in"
                " docs/operations.md.",
            ),
            Panel(
                "Router replicas publishing the case counts",
                "sum(eenloket_router_gauges_leader)",
                "none",
                "stat",
                "How many router replicas publish the system-wide case counts (open and overdue"
                " cases per team, links waiting): the holder of an advisory lock, so one. Each"
                " replica reports 1 or 0, so the panel sums them. Bad: 0 for more than a refresh"
                " (no replica can reach the database: the team panels go blank), or 2 for more"
                " than a moment.",
            ),
            Panel(
                "Outbox published (/s)",
                "sum(rate(eenloket_outbox_published_total[5m]))",
                "ops",
                "timeseries",
                "Outbox rows published per second (one replica holds the relay at a time; the sum"
                " over replicas adds each row once). Bad: zero while the backlog grows — the relay"
                " cannot publish: see OutboxStuck.",
            ),
            Panel(
                "Projection delay p99 (event made → visible in caseview)",
                "histogram_quantile(0.99, sum by (le, group) "
                '(rate(eenloket_consumer_event_delay_seconds_bucket{group=~".*caseview.*"}[5m])))',
                "s",
                "timeseries",
                "From the moment the router made an event to the commit that shows it in"
                " caseview, p99 (buckets summed over replicas before the quantile). Bad: above 5 s"
                " — see ProjectionDelayHigh in docs/operations.md.",
            ),
            Panel(
                "Batch apply time, p99",
                "histogram_quantile(0.99, sum by (le, group) "
                "(rate(eenloket_consumer_batch_seconds_bucket[5m])))",
                "s",
                "timeseries",
                "How long one consumer batch takes in its database transaction, p99 per group"
                " (buckets summed over replicas). Bad: rising with the lag — that service's"
                " database is slow or contended: check its connections and locks.",
            ),
            Panel(
                "HTTP p99 per route",
                "histogram_quantile(0.99, sum by (le, route) "
                "(rate(eenloket_http_request_seconds_bucket[5m])))",
                "s",
                "timeseries",
                "Request duration p99 per route template of every service (buckets summed"
                " over replicas). Bad: an ingest channel route above ~100 ms — see the ack"
                " latency on the intake dashboard; a caseview route above ~1 s — the read"
                " database is slow.",
            ),
            Panel(
                "Batches rolled back and retried (/s)",
                "sum by (group) (rate(eenloket_consumer_batch_retries_total[5m]))",
                "ops",
                "timeseries",
                "Batches a consumer rolled back and retried from the same offsets (summed over"
                " replicas). Bad: steadily above zero — see BatchesRetrying in"
                " docs/operations.md.",
            ),
            Panel(
                "Duplicates skipped by event id (/s)",
                "sum by (group) (rate(eenloket_consumer_duplicates_total[5m]))",
                "ops",
                "timeseries",
                "Records a consumer had already applied (a redelivery after a rebalance or"
                " restart), skipped by event id (summed over replicas). Bad: a steady stream —"
                " Kafka offset commits fail; the database keeps effects exact, but look for"
                " 'kafka offset commit skipped' in the log.",
            ),
        ],
    ),
    "replies": Dashboard(
        "Eenloket — Antwoorden: replies to residents",
        "en",
        [
            Panel(
                "Replies per channel and status (per hour)",
                "sum by (channel, status) (increase(eenloket_outbound_deliveries_total[1h]))",
                "none",
                "timeseries",
                "Replies that reached each status (requested, sent, delivered, bounced, failed,"
                " handed-to-print) per channel, summed over the outbound replicas (each counts"
                " the deliveries it moved on). Bad: sent falling behind requested — the workers"
                " do not keep up (the oldest-due panel); bounced or failed rising — see the"
                " failed panel.",
            ),
            Panel(
                "Failed replies per channel (per hour)",
                "sum by (channel) "
                '(increase(eenloket_outbound_deliveries_total{status="failed"}[1h]))',
                "none",
                "timeseries",
                "Replies the resident did not get: refused for good by the relay or provider,"
                " the channel not set up, or out of retries (summed over replicas). Bad:"
                " anything steady on one channel — see RepliesFailing in docs/operations.md"
                " for the reasons per channel.",
            ),
            Panel(
                "Share of replies failed per channel (last day)",
                "sum by (channel) "
                '(increase(eenloket_outbound_deliveries_total{status="failed"}[1d])) / '
                "sum by (channel) "
                '(increase(eenloket_outbound_deliveries_total{status="requested"}[1d]))',
                "percentunit",
                "bargauge",
                "Failed replies against those requested in the last day, per channel (both"
                " summed over replicas). Bad: more than a few in a hundred — a channel's"
                " settings or provider, or addresses that no longer work (bounces are"
                " counted apart).",
            ),
            Panel(
                "Oldest reply due to be sent",
                "max(eenloket_outbound_oldest_due_seconds)",
                "s",
                "timeseries",
                "How long the oldest delivery that is due has waited; retries waiting for"
                " their back-off are not due yet. Every replica's worker reads the same table,"
                " so the panel takes the max. Bad: above a few minutes — see RepliesWaiting in"
                " docs/operations.md.",
            ),
            Panel(
                "Send attempts per channel and outcome (/s)",
                "sum by (channel, outcome) (rate(eenloket_outbound_attempts_total[5m]))",
                "ops",
                "timeseries",
                "Calls of the channel's adapter (relay, MessageBird, webhooks, the letter"
                " folder) and how each ended: sent, temporary (retried with back-off) or"
                " permanent (summed over replicas). Bad: temporary rising on one channel — its"
                " relay or provider is away or slow; replies fail once their retries run out.",
            ),
            Panel(
                "Delivery reports matching no reply (per hour)",
                "sum by (channel) (increase(eenloket_outbound_unmatched_reports_total[1h]))",
                "none",
                "timeseries",
                "Bounces and SMS reports whose token or reference names no delivery here"
                " (summed over replicas). Bad: a steady stream — reports for messages this"
                " installation did not send: another system shares the bounce domain or the"
                " MessageBird account and its reports URL.",
            ),
        ],
    ),
    "common-ground": Dashboard(
        "Eenloket — Common Ground: notifications and the Klantinteracties facade",
        "en",
        [
            Panel(
                "Notifications sent per kanaal and outcome (/s)",
                "sum by (kanaal, outcome) (rate(eenloket_notifications_attempts_total[5m]))",
                "ops",
                "timeseries",
                "Requests to the municipality's notification component (Open Notificaties) and"
                " how each ended: sent, temporary (retried with back-off) or permanent (given"
                " up at once), summed over replicas. Bad: temporary rising — the component is"
                " away or refuses Eenloket's JWT (see NotificationsWaiting in"
                " docs/operations.md).",
            ),
            Panel(
                "Oldest notification due to be sent",
                "max(eenloket_notifications_oldest_due_seconds)",
                "s",
                "timeseries",
                "How long the oldest notification that is due has waited (a retry waiting for"
                " its back-off is not due yet); every replica reads the same table, so the"
                " panel takes the max. Bad: above a few minutes — subscribers hear of changes"
                " late; the alert NotificationsWaiting fires at 15 minutes.",
            ),
            Panel(
                "Notifications given up (per hour)",
                "sum by (kanaal) (increase(eenloket_notifications_gave_up_total[1h]))",
                "none",
                "timeseries",
                "Notifications past the ceiling (attempts or age) or refused for good: status"
                " gave_up in the table, never sent (summed over replicas). Bad: anything —"
                " subscribers missed these changes; see NotificationsGivingUp in"
                " docs/operations.md.",
            ),
            Panel(
                "Contacts registered in steps, waiting to be published",
                "max(eenloket_klantinteracties_drafts_waiting)",
                "none",
                "timeseries",
                "Contacts a front-office app registers with POST /klantcontacten, /betrokkenen"
                " and /onderwerpobjecten, held until complete or the settle window passed;"
                " every caseview replica counts the same table, so the panel takes the max."
                " Bad: a number that does not go back to zero — caseview cannot publish them"
                " (see KlantcontactDraftsWaiting in docs/operations.md).",
            ),
            Panel(
                "Oldest contact registered in steps, waiting",
                "max(eenloket_klantinteracties_oldest_draft_seconds)",
                "s",
                "timeseries",
                "Age of the oldest waiting draft. It goes in after the settle window (30 s by"
                " default) at the latest. Bad: minutes — Kafka is away from caseview or the"
                " klantcontact-drafts loop is not running; the alert fires at 10 minutes.",
            ),
        ],
    ),
}


def description(panel: Panel, language: str) -> str:
    if "$team" in panel.expr:
        assert not panel.no_team, f"{panel.title}: uses $team, so no_team must be empty"
        return panel.description
    return f"{panel.description} {TEAM_NOTE[language]}{panel.no_team or NO_TEAM_LABEL[language]}"


def team_variable(language: str) -> dict[str, Any]:
    return {
        "name": "team",
        "label": "Team",
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "prometheus"},
        "definition": TEAM_QUERY,
        "query": TEAM_QUERY,
        "refresh": 2,  # on time range change: a new team appears without reloading
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"text": ["All"], "value": ["$__all"]},
        "description": {
            "en": "Owning team; panels whose metrics carry no team label say so.",
            "nl": "Team dat eigenaar is; panelen zonder teamlabel zeggen dat.",
        }[language],
    }


def dashboard(uid: str, board: Dashboard) -> dict[str, Any]:
    built = []
    for n, panel in enumerate(board.panels):
        built.append(
            {
                "id": n + 1,
                "type": panel.kind,
                "title": panel.title,
                "description": description(panel, board.language),
                "datasource": {"type": "prometheus", "uid": "prometheus"},
                "gridPos": {"h": 8, "w": 12, "x": (n % 2) * 12, "y": (n // 2) * 8},
                "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
                "targets": [
                    {"refId": "A", "expr": panel.expr, "datasource": {"uid": "prometheus"}}
                ],
            }
        )
    return {
        "uid": f"eenloket-{uid}",
        "title": board.title,
        "tags": ["eenloket"],
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": [team_variable(board.language)]},
        "panels": built,
    }


def render() -> dict[str, str]:
    return {
        f"{uid}.json": json.dumps(dashboard(uid, board), indent=2, ensure_ascii=False) + "\n"
        for uid, board in DASHBOARDS.items()
    }


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")
