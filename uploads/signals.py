"""Signals sent once an upload's fate is committed to the database.

``upload_completed``: ``upload`` (the completed Upload).
``upload_rejected``: ``upload`` (the rejected Upload) and ``reasons`` (a list of dicts).

Each is sent exactly once per upload, after the transaction that changed its status
commits. A receiver's exception is logged and does not undo the change.

``upload_deleting``: ``upload`` (the row-locked Upload about to be deleted by
``uploads.services.delete_upload``), sent inside its transaction before anything is
removed. Receivers may veto by raising ``uploads.exceptions.InvalidState``, such as when
something else still uses the upload; nothing is changed then.

``upload_deleted``: ``upload`` (the Upload as it was; its row and object are gone), sent once
after the transaction that deleted it commits.

``variants_made``: ``upload`` (the completed Upload) and ``names`` (the variant names just
made and stored), sent after they are recorded.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("uploads")

upload_completed = Signal()
upload_rejected = Signal()
upload_deleting = Signal()
upload_deleted = Signal()
variants_made = Signal()


def send_on_commit(signal: Signal, sender: type, **kwargs: Any) -> None:
    def send() -> None:
        for receiver, result in signal.send_robust(sender=sender, **kwargs):
            if isinstance(result, Exception):
                logger.error("Receiver %r of an uploads signal failed", receiver, exc_info=result)

    transaction.on_commit(send)
