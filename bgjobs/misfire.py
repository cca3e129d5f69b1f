"""Misfire policies: what a scheduled job does about slots it missed while no worker ran.

A slot is missed when its row is claimed more than `grace` after it. Then:
"once" runs one catch-up run (the schedule resumes after it), "skip" runs
none and moves the row to the first slot within the grace (or the next one),
"all" runs every missed slot in order, at most MAX_CATCH_UP of them (the
newest ones; older ones are skipped). The decisions are pure functions of the
schedule, the slot and now, so they are tested without a database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from bgjobs.errors import ConfigurationError
from bgjobs.schedule.policy import SchedulePolicy

MisfireKind = Literal["once", "skip", "all"]
MISFIRE_KINDS: tuple[str, ...] = get_args(MisfireKind)

#: How late a claim may be before its slot counts as missed.
DEFAULT_GRACE = timedelta(minutes=1)

#: "all" runs at most this many missed slots; older ones are skipped.
MAX_CATCH_UP = 1000


@dataclass(frozen=True, slots=True)
class MisfirePolicy:
    """What to do about missed slots: "once" (default), "skip" or "all"."""

    kind: MisfireKind = "once"
    grace: timedelta = DEFAULT_GRACE

    def __post_init__(self) -> None:
        if self.kind not in MISFIRE_KINDS:
            raise ConfigurationError(
                f"misfire policy: expected one of {', '.join(map(repr, MISFIRE_KINDS))}, "
                f"got {self.kind!r}"
            )
        if not isinstance(self.grace, timedelta) or self.grace < timedelta(0):
            raise ConfigurationError(
                f"misfire grace: expected a timedelta >= 0, got {self.grace!r}"
            )


#: Today's behaviour: one catch-up run after downtime.
DEFAULT_MISFIRE = MisfirePolicy()


@dataclass(frozen=True, slots=True)
class Misfire:
    """A decision about a late claim of the row whose slot is `slot`.

    `missed` counts the missed slots from `slot` up to now (at most
    MAX_CATCH_UP + 1: "more than 1,000"). `skip_to` is set when the row must
    not run now but move to that slot; None means run it now.
    """

    slot: datetime
    missed: int
    decision: Literal["run once", "skip", "run all", "skip oldest"]
    skip_to: datetime | None = None


def decide(
    policy: SchedulePolicy, misfire: MisfirePolicy, *, slot: datetime, now: datetime
) -> Misfire | None:
    """The decision for a row due at `slot` claimed at `now`; None when it is on time."""
    if now - slot <= misfire.grace:
        return None
    missed = count_slots(policy, slot, now, limit=MAX_CATCH_UP + 1)
    if misfire.kind == "once":
        return Misfire(slot, missed, "run once")
    if misfire.kind == "skip":
        resume = policy.next_after(now - misfire.grace)
        if resume is None:  # no later slot ever: the overdue one is the last chance
            return Misfire(slot, missed, "run once")
        return Misfire(slot, missed, "skip", skip_to=resume)
    if missed <= MAX_CATCH_UP:
        return Misfire(slot, missed, "run all")
    oldest_kept = _oldest_of_newest(policy, now, MAX_CATCH_UP, misfire.grace)
    if oldest_kept is None or oldest_kept <= slot:
        return Misfire(slot, missed, "run all")
    return Misfire(slot, missed, "skip oldest", skip_to=oldest_kept)


def count_slots(policy: SchedulePolicy, slot: datetime, now: datetime, *, limit: int) -> int:
    """How many fires from `slot` (included) up to `now` (included), counting at most `limit`."""
    count = 0
    current: datetime | None = slot
    while count < limit and current is not None and current <= now:
        count += 1
        current = policy.next_after(current)
    return count


def _oldest_of_newest(
    policy: SchedulePolicy, now: datetime, keep: int, grace: timedelta
) -> datetime | None:
    """The oldest of the last `keep` slots up to now, walking back with prev_before.

    A schedule without prev_before (a user's policy may lack it) keeps only
    the slots within the grace: the first slot after now - grace.
    """
    prev_before: Callable[[datetime], datetime | None] | None = getattr(policy, "prev_before", None)
    if prev_before is None:
        return policy.next_after(now - grace)
    oldest: datetime | None = None
    current: datetime | None = now + timedelta(microseconds=1)
    for _ in range(keep):
        current = prev_before(current) if current is not None else None
        if current is None:
            break
        oldest = current
    return oldest
