"""Where signer errors become the services' errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from uploads import exceptions
from uploads.signers import (
    Signer,
    SignerError,
    SignerNotConfigured,
    SignerUnavailable,
    SourceChanged,
    get_signer,
)

logger = logging.getLogger("uploads")


def signer_for(alias: str) -> Signer:
    with provider_errors():
        return get_signer(alias)


@contextmanager
def provider_errors() -> Iterator[None]:
    try:
        yield
    except SignerNotConfigured as err:
        # The reason names settings, which the client has no business seeing.
        logger.error("Upload storage is not usable: %s", err)
        raise exceptions.NotConfigured() from err
    except SourceChanged:
        raise  # not a failure: the caller refuses the file
    except SignerUnavailable as err:
        logger.warning("Storage unavailable: %s", err)
        raise exceptions.StorageUnavailable() from err
    except SignerError as err:
        # The provider refused for a reason of its own: the client can only try again later.
        logger.error("Storage failed: %s", err)
        raise exceptions.StorageUnavailable() from err
