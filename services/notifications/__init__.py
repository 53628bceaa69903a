"""The Notificaties API publisher (docs/notificaties.md)."""
