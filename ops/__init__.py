"""The `eenloket` operations command (typer): topics, dead letters, routing checks."""
