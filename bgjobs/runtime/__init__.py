"""The thread-based runtime: queues, scheduled jobs, supervisor and monitor."""

from bgjobs.runtime.app import BgJobs, BgJobsBuilder, new
from bgjobs.runtime.config import Queue, ScheduledJob

__all__ = ["BgJobs", "BgJobsBuilder", "Queue", "ScheduledJob", "new"]
