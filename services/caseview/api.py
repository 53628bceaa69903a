"""Caseview's HTTP API (``/v1``): the unified history, live updates and staff commands.

Each concept's routes live in its package (parties/, cases/, timeline/, access_log/,
commands/, replies/, resident/); this module puts them together, in the order the OpenAPI
document lists them.
Reads of party data go through one audited read (access_log/audited.py): guard, lookup,
404, access-log entry. Shared plumbing (caller, session, parameters, problem responses):
web.py.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.caseview.access_log.routes import router as access_log
from services.caseview.cases.attachments import router as attachments
from services.caseview.cases.routes import router as cases
from services.caseview.commands.routes import router as commands
from services.caseview.parties.routes import router as parties
from services.caseview.replies.routes import router as replies
from services.caseview.resident.routes import router as resident
from services.caseview.timeline.routes import router as timeline

router = APIRouter()
for part in (parties, cases, attachments, timeline, access_log, commands, replies, resident):
    router.include_router(part)
