"""bgjobs: background jobs stored in the SQL database your app already has.

Build a runtime with `bgjobs.new(adapter)`, add queues and scheduled jobs,
`build()` it and `enqueue()` JobRequests; README.md has a complete example.
"""

from bgjobs.clock import Clock, FakeClock, SystemClock
from bgjobs.errors import (
    BgJobsError,
    ConfigurationError,
    LeaseLost,
    PayloadError,
    RuntimeStopped,
    ScheduleValidationError,
    Snooze,
    UnknownJobError,
)
from bgjobs.jobs import MAX_PAYLOAD_BYTES, Job, JobRequest, Worker
from bgjobs.runtime import BgJobs, BgJobsBuilder, Queue, ScheduledJob, new

__version__ = "0.1.0"

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "BgJobs",
    "BgJobsBuilder",
    "BgJobsError",
    "Clock",
    "ConfigurationError",
    "FakeClock",
    "Job",
    "JobRequest",
    "LeaseLost",
    "PayloadError",
    "Queue",
    "RuntimeStopped",
    "ScheduleValidationError",
    "ScheduledJob",
    "Snooze",
    "SystemClock",
    "UnknownJobError",
    "Worker",
    "__version__",
    "new",
]
