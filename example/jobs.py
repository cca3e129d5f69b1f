"""The example app's background jobs. Run the workers with:

    bgjobs worker example.jobs:builder

The database is $BGJOBS_DATABASE_URL, else the SQLite file example.db.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import bgjobs
from bgjobs import Job, Queue, ScheduledJob, Worker
from bgjobs.db import adapter_from_url

log = logging.getLogger("example")
DATABASE_URL = os.environ.get("BGJOBS_DATABASE_URL", "sqlite:///example.db")


def send_welcome_email(job: Job) -> None:
    log.info("welcome email to %s", job.payload["email"])


def purge_unconfirmed(job: Job) -> None:
    log.info("purging unconfirmed sign-ups")


builder = (
    bgjobs.new(adapter_from_url(DATABASE_URL))
    .with_queue(
        Queue("default")
        .with_worker(Worker("send_welcome_email", send_welcome_email))
        .with_max_retries(5)
        .with_retry_backoff(timedelta(seconds=10))
    )
    .with_scheduled_job(ScheduledJob(Worker("purge_unconfirmed", purge_unconfirmed), "at 03:00"))
)
