"""Mijn zaken: the resident's own API (``/v1/me``), docs/resident.md."""
