"""Living scenarios: the two simulation games of the seed (and the hard cases around them) as
data (``data/*.yaml``), played through the real ingest routes, the SMTP receiver and
caseview's API. The demo (``deploy/local/demo.py``) and the end-to-end tests
(``tests/e2e/test_scenarios.py``) both use this package. Format: docs/scenarios.md."""

from scenarios.model import DATA_DIR, Scenario, load_all, load_scenario, scenario_files

__all__ = ["DATA_DIR", "Scenario", "load_all", "load_scenario", "scenario_files"]
