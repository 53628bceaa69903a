"""Open Formulieren intake: the generic JSON registration plugin ("JSON dump") posting a
form submission to ingest (docs/open-formulieren.md)."""

# The route's last path segment, also its label in ingest's body limits and rejection metrics.
ROUTE_NAME = "open-formulieren"
