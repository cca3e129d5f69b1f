"""Every exception bgjobs raises, in one place.

    BgJobsError
    ├── ScheduleValidationError (ValueError)  a schedule that is malformed or can never fire
    ├── ConfigurationError (ValueError)       a builder that cannot be built as configured
    ├── PayloadError (ValueError)             a payload that is not JSON or is too large
    ├── UnknownJobError (KeyError)            no worker of this runtime handles the job name
    ├── LeaseLost                             the job is no longer reserved by this owner/attempt
    ├── JobNotFound (KeyError)                no job with that id in the table asked about
    ├── DatabaseError                         the database failed in a way bgjobs cannot retry
    │   └── SchemaError                       the schema is missing, foreign or from the future
    ├── RuntimeStopped                        the supervisor gave up, or the runtime was stopped
    └── ForkedRuntimeError                    a runtime built before os.fork() used in the child

`WorkerLost`, `JobTimeout` and `Cancelled` are not raised to users: they
name failures recorded in jobs_failed (the process holding a job was lost on
its last allowed run, a run that outlived its timeout, a cancelled job).
`Snooze` is raised by handlers, not by bgjobs: it puts the job back for later.
"""

from __future__ import annotations

from datetime import timedelta


class BgJobsError(Exception):
    """Something went wrong in bgjobs."""


class ScheduleValidationError(BgJobsError, ValueError):
    """A schedule, its text or one of its values is invalid.

    `field`, `value` and `allowed` say what was wrong; for text input `line`,
    `column` (both 1-based) and `text` say where, and the message ends with
    the offending line and a caret under the column.
    """

    def __init__(
        self,
        reason: str,
        *,
        field: str | None = None,
        value: object = None,
        allowed: str | None = None,
        text: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.reason = reason
        self.field = field
        self.value = value
        self.allowed = allowed
        self.text = text
        self.line = line
        self.column = column
        super().__init__(self._render())

    def _render(self) -> str:
        message = self.reason
        if self.text is not None and self.line is not None and self.column is not None:
            # Split on "\n" only: the line numbers come from Lark, which counts just those.
            lines = self.text.split("\n")
            source_line = lines[min(max(self.line, 1), len(lines)) - 1]
            caret = " " * (self.column - 1) + "^"
            message = (
                f"{message} (line {self.line}, column {self.column})\n  {source_line}\n  {caret}"
            )
        return message

    def at(self, text: str, line: int, column: int) -> ScheduleValidationError:
        """Return a copy of this error that points at a place in `text`."""
        return ScheduleValidationError(
            self.reason,
            field=self.field,
            value=self.value,
            allowed=self.allowed,
            text=text,
            line=line,
            column=column,
        )


class ConfigurationError(BgJobsError, ValueError):
    """The runtime or a queue was configured in a way that cannot work."""


class PayloadError(BgJobsError, ValueError):
    """The payload is not a JSON value or is larger than MAX_PAYLOAD_BYTES."""


class UnknownJobError(BgJobsError, KeyError):
    """No worker of this runtime handles the job name (or it belongs to a ScheduledJob)."""

    def __str__(self) -> str:
        # KeyError would wrap the message in quotes.
        return str(self.args[0]) if self.args else self.__class__.__doc__ or ""


class LeaseLost(BgJobsError):
    """The job is no longer reserved by this owner for this attempt; nothing was changed."""


class JobNotFound(BgJobsError, KeyError):
    """No job with that id exists where it was looked for."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__doc__ or ""


class DatabaseError(BgJobsError):
    """The database failed in a way that bgjobs could not retry."""


class SchemaError(DatabaseError):
    """The bgjobs schema is missing, belongs to someone else, or is newer than this code."""


class RuntimeStopped(BgJobsError):
    """The runtime stopped: the supervisor gave up (the reason says why) or stop() was called."""


class ForkedRuntimeError(BgJobsError):
    """A BgJobs runtime built before os.fork() cannot run in the child: build it after the fork."""


class WorkerLost(BgJobsError):
    """The process holding the job was lost on its last allowed run, before an outcome."""


class JobTimeout(BgJobsError):
    """A run of the job outlived its timeout (retried like any failure)."""


class Cancelled(BgJobsError):
    """The job was cancelled: before it started, or while it ran (never retried)."""


class Snooze(Exception):
    """Raise from a handler to put the job back, due after `delay`, without using up a retry.

    `Snooze(timedelta(0))` hands the job back at once: the way for a handler to
    give its job back when it sees `job.stop_requested` at shutdown.
    """

    def __init__(self, delay: timedelta) -> None:
        if not isinstance(delay, timedelta) or delay < timedelta(0):
            raise ValueError(f"Snooze needs a non-negative timedelta (got {delay!r})")
        super().__init__(f"snoozed for {delay}")
        self.delay = delay
