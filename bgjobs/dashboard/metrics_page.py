"""/metrics of the dashboard: this process's event metrics plus its database's queue gauges."""

from __future__ import annotations

import threading
import weakref

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from bgjobs.metrics import DatabaseGauges

_lock = threading.Lock()
# One gauge registry per adapter, so its cache serves every scrape.
_registries: weakref.WeakKeyDictionary[object, CollectorRegistry] = weakref.WeakKeyDictionary()


#: What the default registry's text holds when queue gauges are registered there already.
_GAUGES_SHOWN = b"\n# TYPE bgjobs_jobs_waiting gauge\n"


def exposition(adapter: object) -> tuple[bytes, str]:
    """The Prometheus text of the default registry and of `adapter`'s queue gauges.

    A process that registered queue gauges in the default registry itself
    (`register_database_gauges`, as a worker with --metrics-port does) gets
    those only: a family may appear once in a scrape, and a second copy would
    make Prometheus reject the whole scrape.
    """
    own = generate_latest(REGISTRY)
    if _GAUGES_SHOWN in b"\n" + own:
        return own, CONTENT_TYPE_LATEST
    with _lock:
        registry = _registries.get(adapter)
        if registry is None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(DatabaseGauges(adapter))
            _registries[adapter] = registry
    return own + generate_latest(registry), CONTENT_TYPE_LATEST
