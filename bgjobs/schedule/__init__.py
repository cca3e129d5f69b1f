"""Schedules: when a scheduled job fires. Pure: stdlib, lark and python-dateutil only.

Three ways in, one value out:

    from bgjobs.schedule import new_schedule, parse

    parse("at 08:30 on thursdays months 3-6")          # the calendar language
    parse("30 8 * 3-6 4")                              # classic cron
    parse("every 90 seconds")                          # an Interval
    parse("RRULE:FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0")  # an RRule
    new_schedule().on_minute(30).on_hour(8).on_thursdays().between_months(3, 6).build()

Anything with `next_after(t)` and a stable `str()` is a SchedulePolicy.
"""

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.builder import ScheduleBuilder, new_schedule
from bgjobs.schedule.fields import DayRule
from bgjobs.schedule.model import (
    EVERY,
    Interval,
    Schedule,
    new_interval_days,
    new_interval_hours,
    new_interval_milliseconds,
    new_interval_minutes,
    new_interval_seconds,
    new_interval_weeks,
)
from bgjobs.schedule.parser import parse
from bgjobs.schedule.policy import SchedulePolicy
from bgjobs.schedule.render import describe
from bgjobs.schedule.rrule import RRule

__all__ = [
    "EVERY",
    "DayRule",
    "Interval",
    "RRule",
    "Schedule",
    "ScheduleBuilder",
    "SchedulePolicy",
    "ScheduleValidationError",
    "describe",
    "new_interval_days",
    "new_interval_hours",
    "new_interval_milliseconds",
    "new_interval_minutes",
    "new_interval_seconds",
    "new_interval_weeks",
    "new_schedule",
    "parse",
]
