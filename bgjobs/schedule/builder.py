"""The fluent schedule builder, with the seed's names; every call returns a new builder.

    new_schedule().on_second(1).between_seconds(10, 15).on_minute(30).on_hour(8)
        .between_hours(14, 16).on_thursdays().between_months(3, 6).build()

`on_*` and `between_*` on a field that is EVERY replace EVERY; on a field
that already has values they add to them. The second starts as the default
{0}, which the first explicit second call replaces. Values are checked at
the call that gives them (the error points at your line); `build()` checks
what only the whole schedule can tell, such as a day that no chosen month has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from bgjobs.schedule.fields import check_range, check_step, check_value, step_values
from bgjobs.schedule.model import EVERY, FieldValues, Schedule, canonical_zone_name
from bgjobs.schedule.month_days import (
    LastDay,
    LastWeekday,
    NearestWeekday,
    NthWeekday,
    RelativeDay,
    weekday_number,
)


def new_schedule() -> ScheduleBuilder:
    """A builder for a schedule that fires at second 0 of every minute, in UTC."""
    return ScheduleBuilder()


@dataclass(frozen=True, slots=True)
class ScheduleBuilder:
    """An immutable, partly built Schedule. Start from `new_schedule()`."""

    second: FieldValues = frozenset({0})
    second_is_default: bool = True
    minute: FieldValues = EVERY
    hour: FieldValues = EVERY
    day_of_month: FieldValues = EVERY
    month: FieldValues = EVERY
    day_of_week: FieldValues = EVERY
    minute_step: int | None = None
    hour_step: int | None = None
    timezone: str = "UTC"
    relative_days: frozenset[RelativeDay] = frozenset()
    nth_weekdays: frozenset[NthWeekday] = frozenset()

    def build(self) -> Schedule:
        """The Schedule; raises ScheduleValidationError if it could never fire."""
        return Schedule(
            second=self.second,
            minute=self.minute,
            hour=self.hour,
            day_of_month=self.day_of_month,
            month=self.month,
            day_of_week=self.day_of_week,
            minute_step=self.minute_step,
            hour_step=self.hour_step,
            timezone=self.timezone,
            relative_days=self.relative_days,
            nth_weekdays=self.nth_weekdays,
        )

    # ---------------------------------------------------------------- second
    def every_second(self) -> ScheduleBuilder:
        return dataclasses.replace(self, second=EVERY, second_is_default=False)

    def on_second(self, second: int) -> ScheduleBuilder:
        return self._add("second", {check_value("second", second)})

    def between_seconds(self, first: int, last: int) -> ScheduleBuilder:
        """Seconds first..last, both included."""
        return self._add("second", check_range("second", first, last))

    # ---------------------------------------------------------------- minute
    def every_minute(self) -> ScheduleBuilder:
        return dataclasses.replace(self, minute=EVERY, minute_step=None)

    def every_minutes(self, step: int) -> ScheduleBuilder:
        """Every `step` minutes from minute 0 (the text `minute */step`)."""
        if check_step("minute", step) == 1:
            return self.every_minute()
        return dataclasses.replace(self, minute=step_values("minute", step), minute_step=step)

    def on_minute(self, minute: int) -> ScheduleBuilder:
        return self._add("minute", {check_value("minute", minute)})

    def between_minutes(self, first: int, last: int) -> ScheduleBuilder:
        """Minutes first..last, both included."""
        return self._add("minute", check_range("minute", first, last))

    # ------------------------------------------------------------------ hour
    def every_hour(self) -> ScheduleBuilder:
        return dataclasses.replace(self, hour=EVERY, hour_step=None)

    def every_hours(self, step: int) -> ScheduleBuilder:
        """Every `step` hours from hour 0 (the text `hour */step`)."""
        if check_step("hour", step) == 1:
            return self.every_hour()
        return dataclasses.replace(self, hour=step_values("hour", step), hour_step=step)

    def on_hour(self, hour: int) -> ScheduleBuilder:
        return self._add("hour", {check_value("hour", hour)})

    def between_hours(self, first: int, last: int) -> ScheduleBuilder:
        """Hours first..last, both included."""
        return self._add("hour", check_range("hour", first, last))

    # ---------------------------------------------------------- day of month
    def every_day_of_month(self) -> ScheduleBuilder:
        return dataclasses.replace(self, day_of_month=EVERY, relative_days=frozenset())

    def on_day_of_month(self, day: int) -> ScheduleBuilder:
        return self._add("day_of_month", {check_value("day_of_month", day)})

    def between_day_of_months(self, first: int, last: int) -> ScheduleBuilder:
        """Days of the month first..last, both included."""
        return self._add("day_of_month", check_range("day_of_month", first, last))

    def on_last_day_of_month(self, days_before: int = 0) -> ScheduleBuilder:
        """The month's last day (cron `L`, text `day last`), or `days_before` days before
        it (cron `L-N`, text `day N before last`)."""
        return self._pick_month_day(LastDay(days_before))

    def on_last_weekday_of_month(self) -> ScheduleBuilder:
        """The month's last Monday-to-Friday day (cron `LW`, text `day last weekday`)."""
        return self._pick_month_day(LastWeekday())

    def on_nearest_weekday_to(self, day: int) -> ScheduleBuilder:
        """The Monday-to-Friday day nearest to `day`, within the month (cron `15W`,
        text `day 15 nearest weekday`)."""
        return self._pick_month_day(NearestWeekday(day))

    # ----------------------------------------------------------------- month
    def every_month(self) -> ScheduleBuilder:
        return dataclasses.replace(self, month=EVERY)

    def on_month(self, month: int) -> ScheduleBuilder:
        return self._add("month", {check_value("month", month)})

    def between_months(self, first: int, last: int) -> ScheduleBuilder:
        """Months first..last (1 = January), both included."""
        return self._add("month", check_range("month", first, last))

    def on_januaries(self) -> ScheduleBuilder:
        return self.on_month(1)

    def on_februaries(self) -> ScheduleBuilder:
        return self.on_month(2)

    def on_marches(self) -> ScheduleBuilder:
        return self.on_month(3)

    def on_aprils(self) -> ScheduleBuilder:
        return self.on_month(4)

    def on_mays(self) -> ScheduleBuilder:
        return self.on_month(5)

    def on_junes(self) -> ScheduleBuilder:
        return self.on_month(6)

    def on_julies(self) -> ScheduleBuilder:
        return self.on_month(7)

    def on_augusts(self) -> ScheduleBuilder:
        return self.on_month(8)

    def on_septembers(self) -> ScheduleBuilder:
        return self.on_month(9)

    def on_octobers(self) -> ScheduleBuilder:
        return self.on_month(10)

    def on_novembers(self) -> ScheduleBuilder:
        return self.on_month(11)

    def on_decembers(self) -> ScheduleBuilder:
        return self.on_month(12)

    # ----------------------------------------------------------- day of week
    def every_day_of_week(self) -> ScheduleBuilder:
        return dataclasses.replace(self, day_of_week=EVERY, nth_weekdays=frozenset())

    def on_day_of_week(self, day: int) -> ScheduleBuilder:
        """ISO weekday: 1 = Monday ... 7 = Sunday."""
        return self._add("day_of_week", {check_value("day_of_week", day)})

    def between_day_of_weeks(self, first: int, last: int) -> ScheduleBuilder:
        """ISO weekdays first..last (1 = Monday, 7 = Sunday), both included; no wrapping."""
        return self._add("day_of_week", check_range("day_of_week", first, last))

    def on_mondays(self) -> ScheduleBuilder:
        return self.on_day_of_week(1)

    def on_tuesdays(self) -> ScheduleBuilder:
        return self.on_day_of_week(2)

    def on_thuesdays(self) -> ScheduleBuilder:
        """The seed's spelling of on_tuesdays, kept so that ported code runs."""
        return self.on_tuesdays()

    def on_wednesdays(self) -> ScheduleBuilder:
        return self.on_day_of_week(3)

    def on_thursdays(self) -> ScheduleBuilder:
        return self.on_day_of_week(4)

    def on_fridays(self) -> ScheduleBuilder:
        return self.on_day_of_week(5)

    def on_saturdays(self) -> ScheduleBuilder:
        return self.on_day_of_week(6)

    def on_sundays(self) -> ScheduleBuilder:
        return self.on_day_of_week(7)

    def on_weekdays(self) -> ScheduleBuilder:
        """Monday through Friday."""
        return self.between_day_of_weeks(1, 5)

    def on_weekends(self) -> ScheduleBuilder:
        """Saturday and Sunday."""
        return self.between_day_of_weeks(6, 7)

    def on_nth_weekday(self, nth: int, weekday: int | str) -> ScheduleBuilder:
        """The nth (1..5) `weekday` of the month, or the last with nth = -1 (cron `5#2`,
        text `on 2nd friday`). `weekday` is ISO 1..7 or a name such as "friday"."""
        return self._pick_weekday(NthWeekday(weekday_number(weekday), nth))

    def on_last(self, weekday: int | str) -> ScheduleBuilder:
        """The last `weekday` of the month (cron `5L`, text `on last friday`)."""
        return self.on_nth_weekday(-1, weekday)

    # ------------------------------------------------------------- time zone
    def in_timezone(self, zone: str) -> ScheduleBuilder:
        """An IANA zone name, matched case-insensitively (default UTC)."""
        return dataclasses.replace(self, timezone=canonical_zone_name(zone))

    # -------------------------------------------------------------- helpers
    def _pick_month_day(self, day: RelativeDay) -> ScheduleBuilder:
        # Like on_day_of_month: replaces EVERY, else adds.
        plain = frozenset() if self.day_of_month is EVERY else self.day_of_month
        return dataclasses.replace(
            self, day_of_month=plain, relative_days=self.relative_days | {day}
        )

    def _pick_weekday(self, day: NthWeekday) -> ScheduleBuilder:
        plain = frozenset() if self.day_of_week is EVERY else self.day_of_week
        return dataclasses.replace(self, day_of_week=plain, nth_weekdays=self.nth_weekdays | {day})

    def _add(self, name: str, values: Iterable[int]) -> ScheduleBuilder:
        current: FieldValues = getattr(self, name)
        if name == "second" and self.second_is_default:
            current = EVERY
        merged = frozenset(values) if current is EVERY else current | frozenset(values)
        changes: dict[str, object] = {name: merged}
        if name == "second":
            changes["second_is_default"] = False
        if name in ("minute", "hour"):
            # Added values end a `*/N`: the field is now a plain set.
            changes[f"{name}_step"] = None
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
