"""Microseconds per next and previous fire time: bgjobs against cronsim and croniter.

Run: python bench/next_fire.py [--fires N] [--repeat R]

Each library walks a chain of N consecutive fire times from the same start,
forwards (ours: next_after(previous); cronsim: next() on its iterator;
croniter: get_next(datetime)) and backwards (ours: prev_before(previous);
cronsim: next() on CronSim(..., reverse=True); croniter: get_prev(datetime)).
The best of R runs of CPU time (time.process_time) is reported, so a busy
machine inflates all three alike and little.
Ratios below 1 mean bgjobs is faster. A peer that does not read an
expression (cronsim has no `L-N`, `NW` or `?`; croniter no `LW`, `DL` or
`L-N`) shows "-"; before timing, every peer that reads it must agree with
bgjobs on the first fires both ways.
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
from bgjobs.schedule.month_days import LastDay, LastWeekday, NearestWeekday, NthWeekday
from bgjobs.schedule.parser import parse

START = datetime(2024, 1, 15, 10, 17, 23, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Case:
    """One cron expression, its zone, the same schedule built without the parser, and
    which peers read the expression."""

    text: str
    zone: str
    schedule: Schedule
    cronsim: bool = True
    croniter: bool = True


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
    Case(
        "*/15,7 * * * *",
        "UTC",
        Schedule(minute=step_values("minute", 15) | {7}, minute_step=15),
    ),
    Case(
        "0 9 L * *",
        "UTC",
        Schedule(minute=values(0), hour=values(9), relative_days={LastDay()}),
    ),
    Case(
        "0 9 LW * *",
        "Europe/Stockholm",
        Schedule(
            minute=values(0),
            hour=values(9),
            relative_days={LastWeekday()},
            timezone="Europe/Stockholm",
        ),
        croniter=False,
    ),
    Case(
        "0 9 L-2 * *",
        "UTC",
        Schedule(minute=values(0), hour=values(9), relative_days={LastDay(2)}),
        cronsim=False,
        croniter=False,
    ),
    Case(
        "0 9 15W * *",
        "UTC",
        Schedule(minute=values(0), hour=values(9), relative_days={NearestWeekday(15)}),
        cronsim=False,
    ),
    Case(
        "0 9 * * 1#2",
        "America/New_York",
        Schedule(
            minute=values(0),
            hour=values(9),
            nth_weekdays={NthWeekday(1, 2)},
            timezone="America/New_York",
        ),
    ),
    Case(
        "0 17 * * 5L",
        "UTC",
        Schedule(minute=values(0), hour=values(17), nth_weekdays={NthWeekday(5, -1)}),
        croniter=False,
    ),
    Case(
        "0 0 L * 5",
        "UTC",
        Schedule(
            minute=values(0),
            hour=values(0),
            relative_days={LastDay()},
            day_of_week=values(5),
            day_rule=DayRule.OR,
        ),
    ),
)


def best_microseconds(run: Callable[[], object], fires: int, repeat: int) -> float:
    # CPU time of this process: on a machine busy with other work, wall time
    # mostly measures how long the process waited for a core.
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        run()
        best = min(best, time.process_time() - began)
    return best / fires * 1e6


def chain_ours(
    schedule: Schedule, start: datetime, fires: int, backwards: bool
) -> Callable[[], object]:
    step = schedule.prev_before if backwards else schedule.next_after

    def run() -> object:
        t: datetime | None = start
        for _ in range(fires):
            assert t is not None
            t = step(t)
        return t

    return run


def chain_cronsim(text: str, start: datetime, fires: int, backwards: bool) -> Callable[[], object]:
    def run() -> object:
        it = CronSim(text, start, reverse=backwards)
        for _ in range(fires):
            t = next(it)
        return t

    return run


def chain_croniter(text: str, start: datetime, fires: int, backwards: bool) -> Callable[[], object]:
    six_fields = len(text.split()) == 6

    def run() -> object:
        it = croniter(text, start, second_at_beginning=six_fields)
        step = it.get_prev if backwards else it.get_next
        for _ in range(fires):
            t = step(datetime)
        return t

    return run


def first_fires(case: Case, start: datetime, count: int, backwards: bool) -> list[datetime]:
    step = case.schedule.prev_before if backwards else case.schedule.next_after
    found: list[datetime] = []
    t: datetime | None = start
    for _ in range(count):
        assert t is not None
        t = step(t)
        assert t is not None
        found.append(t.astimezone(UTC))
    return found


def check_same_fires(case: Case, start: datetime, count: int, backwards: bool) -> None:
    """Refuse to time libraries that disagree: the ratio would be meaningless."""
    ours = first_fires(case, start, count, backwards)
    way = "backwards" if backwards else "forwards"
    if case.cronsim:
        sim = CronSim(case.text, start, reverse=backwards)
        theirs = [f.astimezone(UTC) for _, f in zip(range(count), sim, strict=False)]
        if ours != theirs:
            raise SystemExit(f"bgjobs and cronsim disagree on {case.text!r} in {case.zone} {way}")
    if case.croniter:
        it = croniter(case.text, start, second_at_beginning=len(case.text.split()) == 6)
        step = it.get_prev if backwards else it.get_next
        theirs = [step(datetime).astimezone(UTC) for _ in range(count)]
        if ours != theirs:
            raise SystemExit(f"bgjobs and croniter disagree on {case.text!r} in {case.zone} {way}")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--fires", type=int, default=2000, help="fire times per chain")
    options.add_argument("--repeat", type=int, default=5, help="runs per measurement (best kept)")
    args = options.parse_args()

    print(f"µs per fire time (best of {args.repeat} chains of {args.fires})")
    header = f"{'expression':24} {'zone':17} {'way':4} {'bgjobs':>8} {'cronsim':>8} {'croniter':>9}"
    print(header + f" {'/cronsim':>9} {'/croniter':>10}")
    ratios: dict[tuple[str, bool], list[float]] = {}
    for case in CASES:
        schedule = case.schedule
        if parse(case.text, timezone=case.zone) != schedule:
            raise SystemExit(f"parse({case.text!r}) differs from the schedule built directly")
        start = START.astimezone(ZoneInfo(case.zone))
        for backwards in (False, True):
            check_same_fires(case, start, 50, backwards)
            n, r = args.fires, args.repeat
            ours = best_microseconds(chain_ours(schedule, start, n, backwards), n, r)
            cells = [f"{ours:8.2f}"]
            vs = []
            for peer, chain, width in (
                ("cronsim", chain_cronsim, 8),
                ("croniter", chain_croniter, 9),
            ):
                if not getattr(case, peer):
                    cells.append(f"{'-':>{width}}")
                    vs.append(f"{'-':>{width + 1}}")
                    continue
                theirs = best_microseconds(chain(case.text, start, n, backwards), n, r)
                ratios.setdefault((peer, backwards), []).append(ours / theirs)
                cells.append(f"{theirs:{width}.2f}")
                vs.append(f"{ours / theirs:{width + 1}.3f}")
            way = "prev" if backwards else "next"
            print(f"{case.text:24} {case.zone:17} {way:4} {' '.join(cells)} {' '.join(vs)}")
    for (peer, backwards), found in sorted(ratios.items()):
        way = "prev" if backwards else "next"
        print(
            f"{way} ours/{peer}: geometric mean {geometric_mean(found):.3f}, worst {max(found):.3f}"
        )
    runs = 500
    began = time.process_time()
    for _ in range(runs):
        for case in CASES:
            parse(case.text, timezone=case.zone)
    per = (time.process_time() - began) / (runs * len(CASES)) * 1e6
    print(f"parse time: {per:.1f} µs per schedule (mean over the {len(CASES)} expressions)")


def geometric_mean(values: list[float]) -> float:
    product = 1.0
    for v in values:
        product *= v
    return float(product ** (1 / len(values)))


if __name__ == "__main__":
    main()
