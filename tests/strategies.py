"""Hypothesis strategies shared by the schedule tests."""

from __future__ import annotations

from hypothesis import strategies as st

from bgjobs.schedule.fields import BOUNDS, DayRule
from bgjobs.schedule.model import Schedule, step_values

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
    return Schedule(**kwargs)  # type: ignore[arg-type]
