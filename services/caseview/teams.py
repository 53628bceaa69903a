"""The teams a command may name: the ``teams`` of the router's routing file.

Caseview reads the same file as the router (``EENLOKET_ROUTING_FILE``, same default;
in Kubernetes both take it from the one ConfigMap), so a handover or participant
change to a team the router would reject is refused at once with a 422. The
alternative, the teams caseview has seen on cases, would refuse every team that
owns nothing yet and accept a team that was removed. Read once at start-up, like
the router does; a file caseview cannot read stops it with a message. The router
stays the judge: if the two ever disagree, its ``command.rejected`` reaches the
sender through the command status (``GET /v1/commands/{id}``).
"""

from __future__ import annotations

from pathlib import Path

import yaml


class RoutingFileError(ValueError):
    pass


def load_team_names(path: Path) -> dict[str, str]:
    """Team id -> the team's public name (replies sign with it: "Burgerzaken")."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RoutingFileError(f"cannot read the routing file {path}: {exc}") from exc
    teams = doc.get("teams") if isinstance(doc, dict) else None
    if not isinstance(teams, dict) or not teams or not all(isinstance(t, str) for t in teams):
        raise RoutingFileError(f"the routing file {path} has no 'teams' mapping")
    return {t: str(name) if name else t for t, name in teams.items()}
