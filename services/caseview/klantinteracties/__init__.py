"""The Klantinteracties API 0.9 facade (Open Klant-compatible) under ``/klantinteracties/api/v1``:
caseview's read models in the shape of the VNG standard, read through the same need-to-know
and access log as ``/v1`` (docs/klantinteracties.md)."""
