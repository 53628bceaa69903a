"""The outbound service's e-mail adapter attaches from the attachment store ingest writes: the
same ``EENLOKET_ATTACHMENT_*`` variables, a missing blob fails the reply, an unreadable store
is retried."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from services.ingest.config import IngestSettings
from services.outbound.adapters import build_adapters
from services.outbound.channels.base import PermanentDeliveryError, TemporaryDeliveryError
from services.outbound.channels.email import EmailAdapter
from services.outbound.config import OutboundSettings
from shared.attachments import Blob, LocalAttachmentStore
from shared.contracts.outbound import ReplyChannel
from tests.unit.test_outbound_email import SETTINGS, attachment, reply


def email_adapter(folder: Path) -> EmailAdapter:
    settings = OutboundSettings(environment="test", relay=SETTINGS, attachment_dir=folder)
    adapter = build_adapters(settings)[ReplyChannel.EMAIL]
    assert isinstance(adapter, EmailAdapter)
    return adapter


def test_outbound_reads_the_store_settings_ingest_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "STORE": "s3",
        "S3_BUCKET": "eenloket-bijlagen",
        "S3_ENDPOINT_URL": "http://minio.internal:9000",
        "S3_ACCESS_KEY_ID": "outbound",
        "S3_SECRET_ACCESS_KEY": "geheim-wachtwoord",
        "S3_PATH_STYLE": "true",
        "S3_PREFIX": "bijlagen",
    }.items():
        monkeypatch.setenv(f"EENLOKET_ATTACHMENT_{name}", value)
    outbound = OutboundSettings().attachment_s3_config()
    assert outbound == IngestSettings().attachment_s3_config()
    assert (outbound.bucket, outbound.prefix, outbound.path_style) == (
        "eenloket-bijlagen",
        "bijlagen/",
        True,
    )
    assert "geheim" not in repr(OutboundSettings())


async def test_a_stored_attachment_is_attached(tmp_path: Path) -> None:
    pdf = b"%PDF-1.7 besluit"
    ref = await LocalAttachmentStore(tmp_path).put(
        Blob(data=pdf, filename="besluit.pdf", media_type="application/pdf")
    )
    data = await email_adapter(tmp_path).render(reply(attachments=[ref]))
    msg = message_from_bytes(data, policy=policy.default)
    [part] = list(msg.iter_attachments())
    assert (part.get_filename(), part.get_content()) == ("besluit.pdf", pdf)


async def test_a_missing_blob_fails_and_an_unreadable_store_is_retried(tmp_path: Path) -> None:
    request = reply(attachments=[attachment(b"nooit opgeslagen")])
    with pytest.raises(PermanentDeliveryError) as missing:
        await email_adapter(tmp_path).render(request)
    assert missing.value.reason == "een bijlage staat niet (meer) in de opslag"
    # The store's folder is a file (a volume not mounted as it should be): an OSError.
    not_a_folder = tmp_path / "bestand"
    not_a_folder.write_bytes(b"")
    with pytest.raises(TemporaryDeliveryError, match="bijlagenopslag niet bereikbaar"):
        await email_adapter(not_a_folder).render(request)
