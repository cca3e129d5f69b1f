"""Hypothesis strategies shared by the schedule tests."""

from __future__ import annotations

from hypothesis import assume
from hypothesis import strategies as st

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.fields import BOUNDS, MAX_DAYS_IN_MONTH, DayRule
from bgjobs.schedule.model import Schedule, step_values
from bgjobs.schedule.month_days import (
    LastDay,
    LastWeekday,
    NearestWeekday,
    NthWeekday,
    RelativeDay,
)

#: Zones with interesting daylight-saving rules, plus UTC.
ZONES = (
    "UTC",
    "Europe/Stockholm",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
)


def field_values(name: str, max_size: int = 6) -> st.SearchStrategy[frozenset[int] | None]:
    """EVERY (None) or a non-empty set of values within the field's bounds."""
    low, high = BOUNDS[name]
    values = st.frozensets(st.integers(low, high), min_size=1, max_size=max_size)
    ranges = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda ab: frozenset(range(min(ab), max(ab) + 1))
    )
    return st.one_of(st.none(), values, ranges)


@st.composite
def schedules(draw: st.DrawFn, zones: tuple[str, ...] = ZONES) -> Schedule:
    """Valid calendar schedules of every shape the model allows."""
    kwargs: dict[str, object] = {}
    for name in ("second", "day_of_month", "month", "day_of_week"):
        kwargs[name] = draw(field_values(name))
    for name in ("minute", "hour"):
        if draw(st.integers(0, 4)) == 0:
            step = draw(st.integers(2, BOUNDS[name][1]))
            kwargs[name] = step_values(name, step)
            kwargs[f"{name}_step"] = step
        else:
            kwargs[name] = draw(field_values(name))
    if kwargs["day_of_month"] is not None and kwargs["day_of_week"] is not None:
        kwargs["day_rule"] = draw(st.sampled_from(DayRule))
    # Rejected (never fires) combinations such as day 30-31 in February only.
    dom = kwargs["day_of_month"]
    if dom is not None and kwargs.get("day_rule", DayRule.AND) is DayRule.AND:
        assert isinstance(dom, frozenset)
        months = kwargs["month"]
        from bgjobs.schedule.fields import MAX_DAYS_IN_MONTH

        month_set = months if isinstance(months, frozenset) else range(1, 13)
        if min(dom) > max(MAX_DAYS_IN_MONTH[m - 1] for m in month_set):
            kwargs["month"] = None
    kwargs["timezone"] = draw(st.sampled_from(zones))
    if draw(st.integers(0, 3)) == 0:
        return _with_picked_days(draw, kwargs)
    return Schedule(**kwargs)  # type: ignore[arg-type]


def relative_days() -> st.SearchStrategy[frozenset[RelativeDay]]:
    """`L`, `L-N`, `LW` and `NW` items."""
    one: st.SearchStrategy[RelativeDay] = st.one_of(
        st.builds(LastDay, st.integers(0, 30)),
        st.just(LastWeekday()),
        st.builds(NearestWeekday, st.integers(1, 31)),
    )
    return st.frozensets(one, min_size=1, max_size=3)


def nth_weekdays() -> st.SearchStrategy[frozenset[NthWeekday]]:
    """`D#N` and `DL` items."""
    nth = st.sampled_from([1, 2, 3, 4, 5, -1])
    return st.frozensets(st.builds(NthWeekday, st.integers(1, 7), nth), min_size=1, max_size=3)


def _with_picked_days(draw: st.DrawFn, kwargs: dict[str, object]) -> Schedule:
    """The schedule with relative days added to one or both day fields."""
    if draw(st.booleans()):
        kwargs["relative_days"] = draw(relative_days())
        if draw(st.booleans()):
            kwargs["day_of_month"] = None  # the relative days alone
    if draw(st.booleans()) or "relative_days" not in kwargs:
        kwargs["nth_weekdays"] = draw(nth_weekdays())
        if draw(st.booleans()):
            kwargs["day_of_week"] = None
    both = kwargs["day_of_month"] is not None or "relative_days" in kwargs
    both = both and (kwargs["day_of_week"] is not None or "nth_weekdays" in kwargs)
    kwargs["day_rule"] = draw(st.sampled_from(DayRule)) if both else DayRule.AND
    try:
        return Schedule(**kwargs)  # type: ignore[arg-type]
    except ScheduleValidationError:
        assume(False)  # a combination that can never fire (`L-30` in February only)
        raise


# ------------------------------------------------------------------ cron text
# Classic cron lines that Debian cron, cronsim and bgjobs all read the same way:
# names in any case, `*`, `*/N`, `N`, `A-B`, `A-B/N` and `N/S` items; Sunday as
# 0 or 7. Left out on purpose: `a-a/n` (cronsim reads it as `a/n`, Debian cron
# and bgjobs as `a`) and lines that can never fire (such as `0 0 30 2 *`).

CRON_MONTH_NAMES = (
    "jan",
    "feb",
    "mar",
    "apr",
    "may",
    "jun",
    "jul",
    "aug",
    "sep",
    "oct",
    "nov",
    "dec",
)
CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
#: Cron's own bounds per field (day of week 0..7), and names by cron number.
_CRON_FIELDS = {
    "second": (0, 59, {}),
    "minute": (0, 59, {}),
    "hour": (0, 23, {}),
    "day_of_month": (1, 31, {}),
    "month": (1, 12, {i + 1: n for i, n in enumerate(CRON_MONTH_NAMES)}),
    "day_of_week": (0, 7, dict(enumerate(CRON_DAY_NAMES))),
}


@st.composite
def _cron_value(draw: st.DrawFn, name: str, value: int) -> str:
    names: dict[int, str] = _CRON_FIELDS[name][2]  # type: ignore[assignment]
    if value in names and draw(st.booleans()):
        word = names[value]
        return draw(st.sampled_from((word, word.upper(), word.title())))
    return str(value)


@st.composite
def _cron_item(draw: st.DrawFn, name: str, star_allowed: bool) -> tuple[str, set[int]]:
    low, high, _ = _CRON_FIELDS[name]
    kinds = ["single", "span", "stepped_span", "start_step"] + (
        ["star_step"] if star_allowed else []
    )
    kind = draw(st.sampled_from(kinds))
    step = draw(st.integers(1, high - low + 2))
    a, b = sorted((draw(st.integers(low, high)), draw(st.integers(low, high))))
    if kind == "star_step":
        return f"*/{step}", set(range(low, high + 1, step))
    if kind == "single":
        return draw(_cron_value(name, a)), {a}
    if kind == "start_step":
        return f"{draw(_cron_value(name, a))}/{step}", set(range(a, high + 1, step))
    if kind == "stepped_span" and a == b:
        b = a + 1 if a < high else a
        a = b - 1
    text = f"{draw(_cron_value(name, a))}-{draw(_cron_value(name, b))}"
    if kind == "stepped_span":
        return f"{text}/{step}", set(range(a, b + 1, step))
    return text, set(range(a, b + 1))


@st.composite
def _cron_field(draw: st.DrawFn, name: str) -> tuple[str, set[int]]:
    low, high, _ = _CRON_FIELDS[name]
    shape = draw(st.integers(0, 5))
    if shape == 0:
        return "*", set(range(low, high + 1))
    if shape == 1:
        step = draw(st.integers(1, high - low + 2))
        return f"*/{step}", set(range(low, high + 1, step))
    # Day, month and second lists may start with `*/N`; minute and hour ones may not.
    first = draw(_cron_item(name, star_allowed=name not in ("minute", "hour")))
    rest = draw(st.lists(_cron_item(name, star_allowed=True), max_size=3))
    items = [first, *rest]
    return ",".join(text for text, _ in items), set().union(*(values for _, values in items))


@st.composite
def _cron_line(draw: st.DrawFn, seconds: bool) -> str:
    names = ["minute", "hour", "day_of_month", "month", "day_of_week"]
    if seconds:
        names.insert(0, "second")
    fields = {name: draw(_cron_field(name)) for name in names}
    day_text, days = fields["day_of_month"]
    _, months = fields["month"]
    starred = day_text.startswith("*") or fields["day_of_week"][0].startswith("*")
    # With AND days (a field starts with `*`), some chosen day must exist in some chosen month.
    assume(not starred or min(days) <= max(MAX_DAYS_IN_MONTH[m - 1] for m in months))
    return " ".join(fields[name][0] for name in names)


def cron_expressions(seconds: bool = False) -> st.SearchStrategy[str]:
    """Valid classic cron lines: 5 fields, or 6 with seconds first when `seconds`."""
    return _cron_line(seconds)
