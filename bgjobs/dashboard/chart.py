"""The throughput chart: bars of jobs finished per minute, laid out here and drawn as inline SVG."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bgjobs.dashboard.summaries import MinuteCount

WIDTH: Final = 600
HEIGHT: Final = 120


@dataclass(frozen=True, slots=True)
class Bar:
    """One minute: a succeeded bar with the failed bar stacked on top (SVG units)."""

    x: float
    width: float
    succeeded_y: float
    succeeded_height: float
    failed_y: float
    failed_height: float
    title: str
    estimated: bool = False


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    peak: int  # the most jobs finished in one minute: the top of the scale
    total_succeeded: int
    total_failed: int
    width: int = WIDTH
    height: int = HEIGHT
    #: Minutes busier than the chart counts row by row: their bars (and so the
    #: totals) are estimates.
    estimated_minutes: int = 0
    #: The first and the last minute shown, for the time axis under the bars.
    first_minute: datetime | None = None
    last_minute: datetime | None = None


def throughput_chart(counts: list[MinuteCount]) -> Chart:
    """Lay out one bar per minute, scaled to the busiest minute."""
    peak = max((c.succeeded + c.failed for c in counts), default=0)
    scale = HEIGHT / peak if peak else 0.0
    slot = WIDTH / max(len(counts), 1)
    bars = []
    for index, count in enumerate(counts):
        ok = count.succeeded * scale
        bad = count.failed * scale
        bars.append(
            Bar(
                x=round(index * slot + slot * 0.1, 2),
                width=round(slot * 0.8, 2),
                succeeded_y=round(HEIGHT - ok, 2),
                succeeded_height=round(ok, 2),
                failed_y=round(HEIGHT - ok - bad, 2),
                failed_height=round(bad, 2),
                title=(
                    f"{count.minute:%H:%M} UTC: about {count.succeeded:,} succeeded, "
                    f"{count.failed:,} failed (estimated from the minute's newest rows)"
                    if count.estimated
                    else f"{count.minute:%H:%M} UTC: {count.succeeded} succeeded, "
                    f"{count.failed} failed"
                ),
                estimated=count.estimated,
            )
        )
    return Chart(
        bars=bars,
        peak=peak,
        total_succeeded=sum(c.succeeded for c in counts),
        total_failed=sum(c.failed for c in counts),
        estimated_minutes=sum(c.estimated for c in counts),
        first_minute=counts[0].minute if counts else None,
        last_minute=counts[-1].minute if counts else None,
    )
