"""Secrets in exception messages can be redacted from the log; the database keeps the text."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

import bgjobs
from bgjobs import Job, JobRequest, Queue, Worker
from bgjobs.db.adapter import Adapter
from bgjobs.events import logger_event_listener
from bgjobs.redaction import RedactingFilter, redact_logs

SECRET = "password=hunter2"


def hide_passwords(text: str) -> str:
    return re.sub(r"password=\S+", "password=***", text)


def leak(job: Job) -> None:
    raise ConnectionError(f"could not log in to db://app:{SECRET}@db")


def test_redacted_log_lines_keep_no_secret_and_the_database_keeps_the_text(
    adapter: Adapter, caplog: pytest.LogCaptureFixture
) -> None:
    installed = redact_logs(hide_passwords)
    try:
        queue = Queue("default").with_worker(Worker("leak", leak)).with_max_retries(0)
        builder = (
            bgjobs.new(adapter)
            .with_queue(queue.with_poll_interval(timedelta(milliseconds=50)))
            .with_event_listener(logger_event_listener)
        )
        with caplog.at_level(logging.INFO, logger="bgjobs"), builder.build() as runtime:
            job = runtime.enqueue(JobRequest("leak"))
            deadline = 200
            while getattr(adapter.get_job(job.id), "state", None) != "failed" and deadline:
                deadline -= 1
                runtime.wait(0.05)
        logging.getLogger("bgjobs").error("boom", exc_info=ValueError(SECRET))
    finally:
        logging.getLogger("bgjobs").removeFilter(installed)
    text = caplog.text
    assert "failed for good" in text and "password=***" in text
    assert SECRET not in text
    failed = adapter.get_job(job.id)
    assert SECRET in failed.exception  # type: ignore[union-attr]


def test_a_redaction_function_that_raises_hides_the_line() -> None:
    def broken(text: str) -> str:
        raise RuntimeError(text)

    record = logging.LogRecord("bgjobs", logging.ERROR, __file__, 1, "x %s", (SECRET,), None)
    assert RedactingFilter(broken).filter(record)
    assert SECRET not in record.getMessage() and "hidden" in record.getMessage()
