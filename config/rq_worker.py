"""The RQ worker class of TASKS_BACKEND=rq (settings.RQ["WORKER_CLASS"]).

RQ's worker forks a work horse per job, a fresh process that would build each upload storage's
client anew: importing the provider SDK and loading its service model (boto3: about a second
of CPU) for every verification. This one builds them once, before the first fork; every horse
starts with them. They hold no connections yet (the worker itself never uses them), so no
horse shares a connection with another.
"""

from __future__ import annotations

import logging
from typing import Any

from rq.worker import Worker as ForkingWorker

from uploads.app_settings import app_settings
from uploads.signers import SignerError, get_signer

logger = logging.getLogger("uploads")


class Worker(ForkingWorker):
    def work(self, *args: Any, **kwargs: Any) -> bool:
        for alias in app_settings.STORAGES:
            try:
                get_signer(alias)
            except SignerError as err:  # each job that needs it will say so
                logger.warning("Storage %r is not usable: %s", alias, err)
        return bool(super().work(*args, **kwargs))
