"""UUIDv7 job ids, made by the client: time-ordered, so retried inserts are idempotent."""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_job_id() -> str:
    """A UUIDv7 (RFC 9562) as text; ids made in one process are strictly increasing.

    Within one millisecond the 12-bit rand_a field is a counter (RFC 9562
    method 1), so jobs enqueued in a burst keep their order as the claim's
    last tie-breaker. If the counter overflows, the timestamp is advanced.
    """
    global _last_ms, _counter
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms = now_ms
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave headroom
        else:
            _counter += 1
            if _counter > 0xFFF:
                _last_ms += 1
                _counter = 0
        ms, counter = _last_ms, _counter
    rand_b = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
    text = f"{value:032x}"  # the canonical 8-4-4-4-12 UUID text, without a UUID object
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
