"""Zone names from every way in fail only as ScheduleValidationError.

A 400-part name (`a/a/a/...`) once exhausted zoneinfo's recursion and
escaped as RecursionError with a traceback.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import RRule, Schedule, new_schedule, parse
from bgjobs.schedule.model import canonical_zone_name

DEEP = "a/" * 400
DEEPER = "/".join(["Europe"] * 1000)

WAYS_IN: list[Callable[[str], object]] = [
    canonical_zone_name,
    lambda name: parse(f"at 08:00 in {name}"),
    lambda name: parse(f"0 8 * * * in {name}"),
    lambda name: parse(f"RRULE:FREQ=DAILY in {name}"),
    lambda name: parse(f"DTSTART;TZID={name}:20250101T000000 RRULE:FREQ=DAILY"),
    lambda name: parse("at 08:00", timezone=name),
    lambda name: Schedule(timezone=name),
    lambda name: RRule("FREQ=DAILY", timezone=name),
    lambda name: new_schedule().in_timezone(name),
]


@pytest.mark.parametrize("way_in", WAYS_IN)
@pytest.mark.parametrize("name", [DEEP, DEEP + "b", DEEPER, "x" * 10_000, "Mars/Base"])
def test_a_deep_or_unknown_zone_is_a_clean_error(
    way_in: Callable[[str], object], name: str
) -> None:
    with pytest.raises(ScheduleValidationError) as caught:
        way_in(name)
    # An unknown zone, or for text a name the grammar cannot read (`a/` ends
    # in a slash); either way the reason quotes a long name shortened.
    assert "time zone" in caught.value.reason or "unexpected '/'" in caught.value.reason
    assert len(caught.value.reason) < 200


zone_like = st.lists(st.text(alphabet="abcXYZ019_+-./", max_size=8), min_size=1, max_size=600).map(
    "/".join
)


@settings(deadline=None, max_examples=300)
@given(name=st.one_of(zone_like, st.text(max_size=50)), index=st.integers(0, len(WAYS_IN) - 1))
@example(name=DEEP, index=0)
@example(name="Europe/Stockholm/" * 200, index=1)
@example(name="../../../../etc/passwd", index=0)
@example(name="Etc/GMT+5", index=0)
def test_any_zone_name_parses_or_is_refused_cleanly(name: str, index: int) -> None:
    try:
        WAYS_IN[index](name)
    except ScheduleValidationError as exc:
        assert str(exc)


def test_real_zones_still_read_in_any_case() -> None:
    assert canonical_zone_name("america/argentina/buenos_aires") == "America/Argentina/Buenos_Aires"
    assert canonical_zone_name("Etc/GMT+5") == "Etc/GMT+5"
    assert canonical_zone_name("utc") == "UTC"
