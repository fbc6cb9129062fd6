"""Django's PostgreSQL backend, with the health check of a kept connection made without a
round trip (``ENGINE: "config.postgresql"``, which the settings choose for a postgres URL).

With ``CONN_HEALTH_CHECKS``, Django sends ``SELECT 1`` before a request first uses its kept
connection: a round trip on every request. Here the connection is judged where it lies: a
server that ended the session (a restart, an idle timeout, ``pg_terminate_backend``) has
sent its error and closed the socket, which is then readable while the connection is idle,
when nothing else is due. Anything readable counts as a reason to reconnect, so a false
alarm costs a new connection, never a failed request. What no check at the start of a
request sees, ``SELECT 1`` included, is a connection that breaks after it.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE:
            return bool(super().is_usable())
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
