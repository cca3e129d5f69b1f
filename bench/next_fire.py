"""Microseconds per next fire time: bgjobs against cronsim and croniter, in one process.

Run: python bench/next_fire.py [--fires N] [--repeat R]

Each library walks a chain of N consecutive fire times from the same start
(ours: next_after(previous); cronsim: next() on its iterator; croniter:
get_next(datetime)); the best of R runs is reported, so a busy machine
inflates all three alike. Ratios below 1 mean bgjobs is faster.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from cronsim import CronSim

from bgjobs.schedule.fields import DayRule
from bgjobs.schedule.model import Schedule, step_values
from bgjobs.schedule.parser import parse

START = datetime(2024, 1, 15, 10, 17, 23, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Case:
    """One cron expression, its zone, and the same schedule built without the parser."""

    text: str
    zone: str
    schedule: Schedule


def values(*items: int | range) -> frozenset[int]:
    return frozenset(v for item in items for v in (item if isinstance(item, range) else [item]))


CASES = (
    Case("*/5 * * * *", "UTC", Schedule(minute=step_values("minute", 5), minute_step=5)),
    Case("30 8 * * 4", "UTC", Schedule(minute=values(30), hour=values(8), day_of_week=values(4))),
    Case(
        "0 0 29 2 1",
        "UTC",
        Schedule(
            minute=values(0),
            hour=values(0),
            day_of_month=values(29),
            month=values(2),
            day_of_week=values(1),
            day_rule=DayRule.OR,
        ),
    ),
    Case(
        "15,45 */10 8-17 * * 1-5",
        "UTC",
        Schedule(
            second=values(15, 45),
            minute=step_values("minute", 10),
            minute_step=10,
            hour=values(range(8, 18)),
            day_of_week=values(range(1, 6)),
        ),
    ),
    Case(
        "30 2 * * *",
        "Europe/Stockholm",
        Schedule(minute=values(30), hour=values(2), timezone="Europe/Stockholm"),
    ),
    Case(
        "*/5 * * * *",
        "America/New_York",
        Schedule(minute=step_values("minute", 5), minute_step=5, timezone="America/New_York"),
    ),
)


def best_microseconds(run: Callable[[], object], fires: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best / fires * 1e6


def chain_ours(schedule: Schedule, start: datetime, fires: int) -> Callable[[], object]:
    def run() -> object:
        t: datetime | None = start
        for _ in range(fires):
            assert t is not None
            t = schedule.next_after(t)
        return t

    return run


def chain_cronsim(text: str, start: datetime, fires: int) -> Callable[[], object]:
    def run() -> object:
        it = CronSim(text, start)
        for _ in range(fires):
            t = next(it)
        return t

    return run


def chain_croniter(text: str, start: datetime, fires: int) -> Callable[[], object]:
    six_fields = len(text.split()) == 6

    def run() -> object:
        it = croniter(text, start, second_at_beginning=six_fields)
        for _ in range(fires):
            t = it.get_next(datetime)
        return t

    return run


def check_same_fires(case: Case, start: datetime, count: int) -> None:
    """Refuse to time libraries that disagree: the ratio would be meaningless."""
    ours: list[datetime] = []
    t: datetime | None = start
    for _ in range(count):
        assert t is not None
        t = case.schedule.next_after(t)
        assert t is not None
        ours.append(t.astimezone(UTC))
    theirs = [
        f.astimezone(UTC) for _, f in zip(range(count), CronSim(case.text, start), strict=False)
    ]
    if ours != theirs:
        raise SystemExit(f"bgjobs and cronsim disagree on {case.text!r} in {case.zone}")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--fires", type=int, default=2000, help="fire times per chain")
    options.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    args = options.parse_args()

    print(f"µs per next fire time (best of {args.repeat} chains of {args.fires})")
    header = f"{'expression':26} {'zone':17} {'bgjobs':>8} {'cronsim':>8} {'croniter':>9}"
    print(header + f" {'/cronsim':>9} {'/croniter':>10}")
    ratios_cronsim, ratios_croniter = [], []
    for case in CASES:
        schedule = case.schedule
        if parse(case.text, timezone=case.zone) != schedule:
            raise SystemExit(f"parse({case.text!r}) differs from the schedule built directly")
        start = START.astimezone(ZoneInfo(case.zone))
        check_same_fires(case, start, 50)
        ours = best_microseconds(chain_ours(schedule, start, args.fires), args.fires, args.repeat)
        sim = best_microseconds(
            chain_cronsim(case.text, start, args.fires), args.fires, args.repeat
        )
        cit = best_microseconds(
            chain_croniter(case.text, start, args.fires), args.fires, args.repeat
        )
        ratios_cronsim.append(ours / sim)
        ratios_croniter.append(ours / cit)
        print(
            f"{case.text:26} {case.zone:17} {ours:8.2f} {sim:8.2f} {cit:9.2f}"
            f" {ours / sim:9.3f} {ours / cit:10.3f}"
        )
    print(
        f"geometric mean ratio: ours/cronsim {geometric_mean(ratios_cronsim):.3f}, "
        f"ours/croniter {geometric_mean(ratios_croniter):.3f}"
    )
    runs = 500
    began = time.perf_counter()
    for _ in range(runs):
        for case in CASES:
            parse(case.text, timezone=case.zone)
    per = (time.perf_counter() - began) / (runs * len(CASES)) * 1e6
    print(f"parse time: {per:.1f} µs per schedule (mean over the {len(CASES)} expressions)")


def geometric_mean(values: list[float]) -> float:
    product = 1.0
    for v in values:
        product *= v
    return float(product ** (1 / len(values)))


if __name__ == "__main__":
    main()
