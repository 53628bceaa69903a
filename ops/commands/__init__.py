"""The `eenloket` commands, one module per area (ops/cli.py puts them together)."""
