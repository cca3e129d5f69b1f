"""Redacting error texts in bgjobs' log lines, for exception messages that may hold secrets.

    import re
    from bgjobs.redaction import redact_logs

    redact_logs(lambda text: re.sub(r"password=\\S+", "password=***", text))

`redact_logs` puts a logging filter on the "bgjobs" logger: every line that
logger writes (event lines such as `job NAME ID failed for good ...: ERROR`, warnings, and
the tracebacks attached to them) passes through your function before any
handler sees it. What is stored in the database (jobs_failed.exception,
traceback, last_error) is not changed: that is where you go to debug.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

Redact = Callable[[str], str]


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and its formatted traceback) with `redact`.

    The message is formatted once here, so handlers see only the redacted
    text. A `redact` that raises hides the whole line rather than leak it.
    """

    def __init__(self, redact: Redact) -> None:
        if not callable(redact):
            raise TypeError(f"redact must be a callable taking and returning str (got {redact!r})")
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._apply(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._apply(record.exc_text)
        record.exc_info = None  # the redacted exc_text is what gets printed
        if record.stack_info:
            record.stack_info = self._apply(record.stack_info)
        return True

    def _apply(self, text: str) -> str:
        try:
            return str(self._redact(text))
        except Exception as exc:
            return f"<log line hidden: the redaction function raised {type(exc).__name__}>"


def redact_logs(redact: Redact, logger: logging.Logger | None = None) -> RedactingFilter:
    """Pass every line of the "bgjobs" logger (or `logger`) through `redact`; returns the filter
    (remove it with `logging.getLogger("bgjobs").removeFilter(f)`)."""
    found = RedactingFilter(redact)
    (logger or logging.getLogger("bgjobs")).addFilter(found)
    return found
