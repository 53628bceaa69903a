"""Bulk import of contacts from an old CRM (`eenloket import contacts FILE`, issue #7).

Every valid row becomes one ``nl.eenloket.message.received`` event on the inbound
topic, exactly as ingest would publish it (same envelope, same record key: an HMAC
of the strongest identifier, same headers), with the contact's original timestamp.
The router then links parties and cases as for any message; caseview shows them.

- **Deterministic ids.** The message id (= CloudEvent id) of row *n* is
  ``uuid5(NAMESPACE, "<sha256 of the file>:<n>")``: importing the same file again
  publishes the same ids, and the router's processed-id check applies each once.
- **Checkpoint.** After every acknowledged chunk the checkpoint file records the
  last row done and the length of the reject file; a resumed run skips those rows
  (and truncates the reject file to that length, so no reject is written twice).
- **Bad rows** go to the reject file (NDJSON: row, reason, original) and the rest
  continues. Reasons never repeat a value from the row.
- **Fast.** Rows are checked by plain functions and encoded with orjson (no pydantic
  per row); sends are not awaited one by one: each chunk's acknowledgements are
  awaited while the next chunk is already being sent.

Trust: identifiers are imported ``claimed``, unless the operator passes
``trust_verified`` and the row lists the identifier under ``verified``: then their
evidence is the import (``crm-import``), which is worth ``verified`` (never
``authenticated``: no login of the past can be checked now). Identifiers are checked and
their rung decided by ingest's own functions (shared/identifiers.py).

Modules: ``rows`` (checking one row), ``encoding`` (the bytes and the record key),
``files`` (reading the export, the checkpoint), ``run`` (the import itself).
"""

from ops.importer.encoding import NAMESPACE, MessageIds, SenderKeys, encode, message_id, thread_refs
from ops.importer.files import (
    FORMATS,
    Checkpoint,
    ImportFileError,
    RawRow,
    _Counter,
    check_csv_header,
    csv_header,
    detect_format,
    file_sha256,
    read_rows,
)
from ops.importer.rows import (
    CASE_STATUSES,
    DEFAULT_CASE_STATUS,
    FIELDS,
    IDENTIFIER_KINDS,
    REQUIRED_FIELDS,
    Contact,
    Options,
    RowError,
    parse_date,
    parse_row,
)
from ops.importer.run import (
    CHUNK,
    Summary,
    Target,
    _Batches,
    default_paths,
    import_contacts,
    import_to_kafka,
)

__all__ = [
    "CASE_STATUSES",
    "CHUNK",
    "DEFAULT_CASE_STATUS",
    "FIELDS",
    "FORMATS",
    "IDENTIFIER_KINDS",
    "NAMESPACE",
    "REQUIRED_FIELDS",
    "Checkpoint",
    "Contact",
    "ImportFileError",
    "MessageIds",
    "Options",
    "RawRow",
    "RowError",
    "SenderKeys",
    "Summary",
    "Target",
    "_Batches",
    "_Counter",
    "check_csv_header",
    "csv_header",
    "default_paths",
    "detect_format",
    "encode",
    "file_sha256",
    "import_contacts",
    "import_to_kafka",
    "message_id",
    "parse_date",
    "parse_row",
    "read_rows",
    "thread_refs",
]
