"""The public names of SPEC 3.7 (and the schedule API of 2.2 and 2.6), pinned.

Renaming or dropping one of these breaks users, docs and examples; this test makes
that a deliberate change.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import types

import pytest

import bgjobs
import bgjobs.db
import bgjobs.events
import bgjobs.schedule
from bgjobs import errors

SPEC_NAMES = {
    "bgjobs": [
        "new",
        "Queue",
        "ScheduledJob",
        "Worker",
        "JobRequest",
        "Job",
        "MAX_PAYLOAD_BYTES",
        "BgJobs",
        "BgJobsBuilder",
        "BgJobsError",
        "UnknownJobError",
        "PayloadError",
        "LeaseLost",
        "RuntimeStopped",
        "ScheduleValidationError",
        # execution (second round)
        "Snooze",
    ],
    "bgjobs.db": ["SqliteAdapter", "PostgresAdapter", "adapter_from_url"],
    "bgjobs.schedule": [
        "parse",
        "new_schedule",
        "describe",
        "Schedule",
        "Interval",
        "RRule",
        "SchedulePolicy",
        "ScheduleValidationError",
        "new_interval_milliseconds",
        "new_interval_seconds",
        "new_interval_minutes",
        "new_interval_hours",
        "new_interval_days",
        "new_interval_weeks",
    ],
    "bgjobs.events": [
        "logger_event_listener",
        # SPEC 3.6, all of them
        "JobEnqueued",
        "JobReserved",
        "JobStarted",
        "JobSucceeded",
        "JobRetried",
        "JobFailed",
        "JobReleased",
        "JobRescued",
        "JobScheduled",
        "PollingStarted",
        "PollingStopped",
        "QueueErrored",
        "DbErrored",
        "SetupErrored",
        "Migrated",
        "RuntimeStopped",
        # execution (second round)
        "JobSnoozed",
        "JobCancelled",
        "JobTimedOut",
    ],
    "bgjobs.errors": [
        "BgJobsError",
        "UnknownJobError",
        "PayloadError",
        "LeaseLost",
        "RuntimeStopped",
        "ScheduleValidationError",
        "ConfigurationError",
        # execution (second round)
        "JobTimeout",
        "Cancelled",
        "Snooze",
    ],
}


@pytest.mark.parametrize(
    ("module", "name"), [(module, name) for module, names in SPEC_NAMES.items() for name in names]
)
def test_spec_name_is_importable(module: str, name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module} import {name}", namespace)
    assert namespace[name] is not None


def isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps __all__ in: CONSTANTS, then Classes, then the rest."""
    if re.fullmatch(r"[A-Z0-9_]+", name) and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


@pytest.mark.parametrize("module", [bgjobs, bgjobs.schedule, bgjobs.db])
def test_all_is_sorted_and_every_name_resolves(module: types.ModuleType) -> None:
    exported = module.__all__
    assert exported == sorted(exported, key=isort_key)
    assert len(set(exported)) == len(exported)
    for name in exported:
        assert hasattr(module, name), name


def test_all_of_bgjobs_lists_everything_it_exports() -> None:
    public = {
        name
        for name, value in vars(bgjobs).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(bgjobs.__all__) - {"__version__"}
    assert set(SPEC_NAMES["bgjobs"]) <= public


def test_importing_bgjobs_db_does_not_import_psycopg() -> None:
    # SQLite users need no psycopg: PostgresAdapter is loaded on first use. A fresh
    # interpreter is the only honest place to check what an import pulls in.
    code = "import sys, bgjobs, bgjobs.db; print('psycopg' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_the_error_tree() -> None:
    root = errors.BgJobsError
    assert issubclass(errors.ScheduleValidationError, root)
    assert issubclass(errors.ScheduleValidationError, ValueError)
    assert issubclass(errors.ConfigurationError, root)
    assert issubclass(errors.ConfigurationError, ValueError)
    assert issubclass(errors.PayloadError, root)
    assert issubclass(errors.PayloadError, ValueError)
    assert issubclass(errors.UnknownJobError, root)
    assert issubclass(errors.UnknownJobError, KeyError)
    assert issubclass(errors.JobNotFound, root)
    assert issubclass(errors.JobNotFound, KeyError)
    assert issubclass(errors.SchemaError, errors.DatabaseError)
    for plain in (
        errors.LeaseLost,
        errors.DatabaseError,
        errors.RuntimeStopped,
        errors.ForkedRuntimeError,
    ):
        assert issubclass(plain, root)
        assert not issubclass(plain, (ValueError, KeyError))
    # One class per idea, re-exported, never redefined.
    assert bgjobs.ScheduleValidationError is errors.ScheduleValidationError
    assert bgjobs.schedule.ScheduleValidationError is errors.ScheduleValidationError
    assert bgjobs.RuntimeStopped is errors.RuntimeStopped


def test_key_errors_print_their_message_without_quotes() -> None:
    assert str(errors.UnknownJobError("no worker handles 'x'")) == "no worker handles 'x'"
    assert str(errors.JobNotFound("no job with id 1")) == "no job with id 1"


def test_the_runtime_stopped_event_is_not_the_exception() -> None:
    # Same name, two meanings: the event in bgjobs.events, the exception in bgjobs.errors.
    assert bgjobs.events.RuntimeStopped is not errors.RuntimeStopped
    assert not issubclass(bgjobs.events.RuntimeStopped, BaseException)


@pytest.mark.parametrize("name", SPEC_NAMES["bgjobs.events"][1:])
def test_events_are_frozen_dataclasses(name: str) -> None:
    event = getattr(bgjobs.events, name)
    assert dataclasses.is_dataclass(event)
    assert event.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert issubclass(event, bgjobs.events.Event)


def test_builder_queue_and_runtime_methods() -> None:
    for name in (
        "with_queue",
        "with_scheduled_job",
        "with_event_listener",
        "with_heartbeat",
        "with_restart_tolerance",
        "with_retention",
        "with_clock",
        "build",
    ):
        assert callable(getattr(bgjobs.BgJobsBuilder, name)), name
    for name in (
        "with_worker",
        "with_max_retries",
        "with_max_concurrent_jobs",
        "with_poll_interval",
        "with_retry_backoff",
        "with_event_listener",
    ):
        assert callable(getattr(bgjobs.Queue, name)), name
    for name in ("with_max_retries", "with_retry_backoff", "with_event_listener"):
        assert callable(getattr(bgjobs.ScheduledJob, name)), name
    for name in ("enqueue", "enqueue_many", "stop", "wait", "drain", "__enter__", "__exit__"):
        assert callable(getattr(bgjobs.BgJobs, name)), name
    for name in ("available_at", "available_in", "on_queue", "with_priority", "with_unique_key"):
        assert callable(getattr(bgjobs.JobRequest, name)), name
    for adapter in (bgjobs.db.SqliteAdapter, bgjobs.db.PostgresAdapter):
        for name in ("migrate", "enqueue", "enqueue_many", "close"):
            assert callable(getattr(adapter, name)), (adapter, name)


UNITS = ["second", "minute", "hour", "month"]


def test_schedule_builder_names() -> None:
    builder = bgjobs.schedule.new_schedule()
    names = [f"every_{unit}" for unit in [*UNITS, "day_of_month", "day_of_week"]]
    names += [f"on_{unit}" for unit in [*UNITS, "day_of_month", "day_of_week"]]
    names += [f"between_{unit}s" for unit in UNITS]
    names += ["between_day_of_months", "between_day_of_weeks", "in_timezone", "build"]
    names += [
        f"on_{day}s"
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    ]
    names += ["on_thuesdays", "on_weekdays", "on_weekends"]
    names += [
        f"on_{month}"
        for month in (
            "januaries",
            "februaries",
            "marches",
            "aprils",
            "mays",
            "junes",
            "julies",
            "augusts",
            "septembers",
            "octobers",
            "novembers",
            "decembers",
        )
    ]
    missing = [name for name in names if not callable(getattr(builder, name, None))]
    assert missing == []
    assert builder.on_thuesdays().build() == builder.on_tuesdays().build()


def test_interval_constructors() -> None:
    interval = bgjobs.schedule.Interval
    for unit in ("milliseconds", "seconds", "minutes", "hours", "days", "weeks"):
        assert getattr(interval, unit)(2) == getattr(bgjobs.schedule, f"new_interval_{unit}")(2)


def test_version_is_the_packaged_one() -> None:
    from importlib.metadata import version

    assert bgjobs.__version__ == version("bgjobs")
