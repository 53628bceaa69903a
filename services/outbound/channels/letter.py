"""Replies by letter: a PDF (fpdf2) written to the print street's folder, ``handed-to-print``.

The page is A4, laid out for a window envelope. The address block follows DIN 5008 form B:
the window is 20 mm from the left and 45 mm from the top, 85 x 45 mm; its first 5 mm hold the
municipality's return address in small type, the resident's address starts at 50 mm (up to 8
lines). The same window fits the common Dutch window envelopes (EA5/6, C5/6 with the window
on the left). Above it, on the right, the letterhead (name, address, an optional logo); below
it the date, "Ons kenmerk" (the case number), the subject and the text, wrapped.

The file is ``<reply_id>.pdf`` in ``directory``, written to a temporary file in the same folder
and renamed over the name: the print street never sees half a letter, and a retry after a
crash overwrites the same file (one letter, not two). Everything on the page is derived from
the request (the date is the day staff asked), so a retry writes the same letter.

Attachments are not enclosed (they stay in the attachment store; the text refers to them).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from fpdf import FPDF

from services.outbound.channels.base import PermanentDeliveryError, Sent, TemporaryDeliveryError
from shared.contracts.outbound import DeliverReply, ReplyStatus
from shared.files import write_atomically

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
_MONTHS = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
]

# The window (mm): DIN 5008 form B, see the module's text.
WINDOW_LEFT, WINDOW_TOP, WINDOW_WIDTH, WINDOW_HEIGHT = 20.0, 45.0, 85.0, 45.0
RETURN_ADDRESS_HEIGHT = 5.0
ADDRESS_LINE_HEIGHT = 5.0
MAX_ADDRESS_LINES = int((WINDOW_HEIGHT - RETURN_ADDRESS_HEIGHT) / ADDRESS_LINE_HEIGHT)
MARGIN_LEFT, MARGIN_RIGHT = 25.0, 20.0
_CORE_ENCODING = "windows-1252"


@dataclass(frozen=True)
class LetterSettings:
    # The print street's folder (a mounted share); it picks up ``*.pdf`` only.
    directory: Path
    municipality: str
    # The letterhead's and the return address's lines, e.g. ("Stadhuisplein 1", "5038 TC Tilburg").
    address: tuple[str, ...] = ()
    logo: Path | None = None
    # A TrueType font for text beyond Windows-1252 (the core Helvetica covers Dutch).
    font: Path | None = None
    closing: tuple[str, ...] = field(default=("Met vriendelijke groet,",))


def address_lines(address: str) -> list[str]:
    """The resident's postal address as window lines: split on newlines or commas."""
    return [" ".join(line.split()) for line in re.split(r"[\n,]", address) if line.strip()]


def dutch_date(moment: datetime) -> str:
    """``3 januari 2026``: the day in the Netherlands."""
    day = moment.astimezone(AMSTERDAM)
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


class _Letter:
    """One letter's page(s); ``text`` makes whatever the font cannot show printable."""

    def __init__(self, settings: LetterSettings, moment: datetime) -> None:
        self.pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        self.pdf.set_creation_date(moment)  # the same bytes on a retry
        self.pdf.set_title("Brief")
        self.pdf.set_author(settings.municipality)
        self.pdf.set_margins(MARGIN_LEFT, 20.0, MARGIN_RIGHT)
        self.pdf.set_auto_page_break(auto=True, margin=25.0)
        if settings.font is not None:
            self.pdf.add_font("Letter", "", str(settings.font))
            self.pdf.add_font("Letter", "B", str(settings.font))
            self.family = "Letter"
            self.unicode = True
        else:
            self.pdf.core_fonts_encoding = _CORE_ENCODING
            self.family = "Helvetica"
            self.unicode = False
        self.pdf.add_page()

    def text(self, value: str) -> str:
        if self.unicode:
            return value
        return value.encode(_CORE_ENCODING, errors="replace").decode(_CORE_ENCODING)

    def font(self, size: float, style: str = "") -> None:
        self.pdf.set_font(self.family, style, size)


def render(settings: LetterSettings, request: DeliverReply) -> bytes:
    """The letter's PDF."""
    lines = address_lines(request.address)
    if not lines:
        raise PermanentDeliveryError("brief: geen postadres")
    if len(lines) > MAX_ADDRESS_LINES:
        raise PermanentDeliveryError(
            f"brief: het adres heeft {len(lines)} regels, het venster biedt er {MAX_ADDRESS_LINES}"
        )
    letter = _Letter(settings, request.requested_at)
    pdf, text = letter.pdf, letter.text
    page_width = pdf.w - MARGIN_LEFT - MARGIN_RIGHT

    # Letterhead: top right, clear of the window.
    head_x = WINDOW_LEFT + WINDOW_WIDTH + 15.0
    if settings.logo is not None:
        pdf.image(str(settings.logo), x=head_x, y=12.0, h=14.0, keep_aspect_ratio=True)
    pdf.set_xy(head_x, 28.0)
    letter.font(12, "B")
    pdf.multi_cell(pdf.w - MARGIN_RIGHT - head_x, 6.0, text(settings.municipality), align="L")
    letter.font(9)
    for line in settings.address:
        pdf.set_x(head_x)
        pdf.cell(0, 4.5, text(line), new_x="LMARGIN", new_y="NEXT")

    # The window: the return address, then the resident's address.
    letter.font(7)
    pdf.set_xy(WINDOW_LEFT, WINDOW_TOP)
    return_address = text(" · ".join([settings.municipality, *settings.address]))
    while pdf.get_string_width(return_address) > WINDOW_WIDTH - 2.0:
        return_address = return_address[:-2] + "…"  # one line, inside the window
    pdf.cell(WINDOW_WIDTH, RETURN_ADDRESS_HEIGHT, return_address)
    letter.font(10)
    for number, line in enumerate(lines):
        pdf.set_xy(WINDOW_LEFT, WINDOW_TOP + RETURN_ADDRESS_HEIGHT + number * ADDRESS_LINE_HEIGHT)
        pdf.cell(WINDOW_WIDTH, ADDRESS_LINE_HEIGHT, text(line))

    # Date, reference, subject, text.
    pdf.set_xy(MARGIN_LEFT, WINDOW_TOP + WINDOW_HEIGHT + 8.0)
    letter.font(9)
    for label, value in (
        ("Datum", dutch_date(request.requested_at)),
        ("Ons kenmerk", request.case_number),
    ):
        pdf.cell(28.0, 5.0, label)
        pdf.cell(0, 5.0, text(value), new_x="LMARGIN", new_y="NEXT")
    if request.subject:
        pdf.cell(28.0, 5.0, "Onderwerp")
        letter.font(9, "B")
        pdf.multi_cell(page_width - 28.0, 5.0, text(request.subject), align="L")
    pdf.ln(8.0)
    letter.font(10.5)
    pdf.multi_cell(page_width, 5.5, text(request.text), align="L")
    pdf.ln(8.0)
    for line in (*settings.closing, settings.municipality):
        pdf.cell(0, 5.5, text(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


class LetterAdapter:
    """Writes a reply as a PDF letter into the print street's folder."""

    def __init__(self, settings: LetterSettings) -> None:
        self._settings = settings

    def write(self, request: DeliverReply) -> Sent:
        content = render(self._settings, request)
        name = f"{request.reply_id}.pdf"
        try:
            write_atomically(self._settings.directory / name, content)
        except OSError as exc:
            # The share may be away for a moment (a remount): worth another try.
            raise TemporaryDeliveryError(
                f"brief: printstraatmap niet beschrijfbaar ({exc.strerror or type(exc).__name__})"
            ) from exc
        return Sent(reference=name, status=ReplyStatus.HANDED_TO_PRINT)

    async def send(self, request: DeliverReply) -> Sent:
        # Rendering and fsync block: off the event loop.
        return await asyncio.to_thread(self.write, request)
