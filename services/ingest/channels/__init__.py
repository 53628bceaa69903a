"""One module per channel: its request model and its mapping to the canonical message."""
