"""The RQ queue class of TASKS_BACKEND=rq (settings.RQ["QUEUE_CLASS"]).

RQ enqueues a job in two round trips to Redis: one adds the queue's name to the set of queues,
the next saves the job and pushes its id. Given a pipeline, it puts both in that pipeline;
django-tasks-rq gives none. This queue gives its own, so that an enqueue is one round trip
(complete enqueues its variants and its webhooks' deliveries within the request).
"""

from __future__ import annotations

from django_rq.queues import DjangoRQ
from redis.client import Pipeline
from rq.job import Job


class Queue(DjangoRQ):
    def enqueue_job(
        self,
        job: Job,
        pipeline: Pipeline | None = None,
        at_front: bool = False,
        unique: bool = False,
    ) -> Job:
        # A job that waits on others watches their keys (a transaction of its own), a
        # rate-limited one is promoted outside any pipeline, and a unique one goes in a
        # script: RQ's own way for those.
        if pipeline is not None or unique or job._dependency_ids or rate_limited(job):
            return super().enqueue_job(job, pipeline, at_front, unique)
        with self.connection.pipeline() as pipe:
            enqueued = super().enqueue_job(job, pipe, at_front)
            pipe.execute()
        return enqueued


def rate_limited(job: Job) -> bool:
    return bool(getattr(job, "has_rate_limit", False))  # an RQ that has rate limits
