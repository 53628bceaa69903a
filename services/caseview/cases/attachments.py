"""A case's attachments (letter scans, app photos): the bytes from the attachment store,
only through this route, so need-to-know and the access log apply as to any case read.

An attachment is found through the case's own history (the ``attachments`` of its
``message.routed`` entries), never by hash alone: knowing a hash gives nothing. A case
the viewer may not see answers 404, like a case that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy import select

from services.caseview.access_log.audited import Audited, AuditedRead, Need, NotFound, Target
from services.caseview.auth import READ_HISTORY
from services.caseview.orm import timeline_entries
from services.caseview.viewer import case_access
from services.caseview.web import responses, viewer
from shared.attachments import AttachmentStore
from shared.contracts import MessageRouted
from shared.http import ProblemError

router = APIRouter(prefix="/v1")

# Shown in the browser; anything else (SVG too: it can carry script) is downloaded.
INLINE = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"})
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The attachment's sha256")]


def disposition(filename: str | None, media_type: str) -> str:
    kind = "inline" if media_type in INLINE else "attachment"
    name = filename or "bijlage"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


async def _find(
    read: AuditedRead, request: Request, case_id: uuid.UUID, sha256: str
) -> tuple[uuid.UUID, dict[str, Any]] | None:
    """The (party, attachment ref) when the case has it and the viewer may see the case."""
    access = (await case_access(read.session, [case_id])).get(case_id)
    if access is None or not viewer(request, read.principal).sees(access):
        return None
    t = timeline_entries
    rows = await read.session.execute(
        select(t.c.party_id, t.c.body).where(t.c.case_id == case_id, t.c.type == MessageRouted.TYPE)
    )
    for party_id, body in rows:
        for ref in body.get("attachments") or []:
            if ref.get("sha256") == sha256:
                return party_id, ref
    return None


@router.get(
    "/cases/{case_id}/attachments/{sha256}",
    tags=["cases"],
    operation_id="getCaseAttachment",
    response_class=Response,
    responses={
        200: {"description": "The attachment's bytes", "content": {"*/*": {}}},
        **responses(404),
    },
    summary="An attachment of a contact of the case (PDF and images inline, others as a download)",
)
async def case_attachment(
    request: Request, case_id: uuid.UUID, sha256: Sha256, read: Audited
) -> Response:
    async def find() -> tuple[uuid.UUID, dict[str, Any]] | None:
        return await _find(read, request, case_id, sha256)

    _, ref = await read(
        Need(READ_HISTORY),
        Target(case_id=case_id, detail="attachment"),
        find,
        not_found=NotFound("Attachment not found", "Not an attachment of this case you may see."),
        logged=lambda found: [Target(party_id=found[0], case_id=case_id, detail="attachment")],
    )
    media_type = str(ref.get("media_type") or "application/octet-stream")
    return await attachment_response(request, sha256, ref.get("filename"), media_type)


async def attachment_response(
    request: Request, sha256: str, filename: str | None, media_type: str
) -> Response:
    """The bytes from the store (also for residents' own documents: resident/routes.py)."""
    store: AttachmentStore = request.app.state.attachments
    # The store hands over whole blobs (at most ingest's per-message limit), so one body.
    try:
        data = await store.get(sha256)
    except KeyError as exc:  # referenced but gone from the store (an operator's clean-up)
        raise ProblemError(404, "Attachment not in the store", "The bytes are gone.") from exc
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": disposition(filename, media_type),
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
