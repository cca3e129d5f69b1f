"""The rescue bound a timed-out stop announces holds on both databases: a job whose owner
row is gone comes back once its reservation is older than the lease, not before."""

from __future__ import annotations

from datetime import timedelta

from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import JobRequest
from bgjobs.runtime.config import HeartbeatSettings
from bgjobs.runtime.left_reserved import rescue_after
from tests.db.support import T0

HEARTBEAT = HeartbeatSettings(every=timedelta(seconds=5), lease=timedelta(seconds=30))
LEASE = HEARTBEAT.lease.total_seconds()


def _claim_then_stop(adapter: BaseAdapter) -> None:
    adapter.enqueue(JobRequest("long"), now=T0)
    adapter.register_worker("stopping", hostname="h", pid=1, now=T0)
    adapter.register_worker("alive", hostname="h", pid=2, now=T0)
    (claimed,) = adapter.reserve_jobs(["long"], queue="default", limit=1, owner="stopping", now=T0)
    assert claimed.reserved_at == T0
    adapter.remove_worker("stopping")  # the graceful stop timed out and deleted its row


def test_rescued_at_the_first_sweep_after_claim_plus_lease(adapter: BaseAdapter) -> None:
    _claim_then_stop(adapter)
    stopped_at = T0 + timedelta(seconds=3)
    after = rescue_after(adapter.list_jobs("jobs")[0], HEARTBEAT, stopped_at)
    assert after == T0 + HEARTBEAT.lease
    # The live worker's sweeps before that moment leave the job alone...
    for seconds in (3, 10, 25, 30):
        sweep = T0 + timedelta(seconds=seconds)
        adapter.heartbeat_worker("alive", now=sweep)
        assert adapter.rescue_jobs(now=sweep, lease_seconds=LEASE) == [], seconds
    # ...and the first sweep after it takes the job back.
    sweep = T0 + timedelta(seconds=35)
    adapter.heartbeat_worker("alive", now=sweep)
    (rescued,) = adapter.rescue_jobs(now=sweep, lease_seconds=LEASE)
    assert (rescued.name, rescued.reserved_by, rescued.attempts) == ("long", None, 1)
