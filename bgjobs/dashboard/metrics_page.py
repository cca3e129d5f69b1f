"""/metrics of the dashboard: this process's event metrics plus its database's queue gauges."""

from __future__ import annotations

import threading
import weakref

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from bgjobs.metrics import DatabaseGauges

_lock = threading.Lock()
# One gauge registry per adapter, so its cache serves every scrape.
_registries: weakref.WeakKeyDictionary[object, CollectorRegistry] = weakref.WeakKeyDictionary()


def exposition(adapter: object) -> tuple[bytes, str]:
    """The Prometheus text of the default registry and of `adapter`'s queue gauges."""
    with _lock:
        registry = _registries.get(adapter)
        if registry is None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(DatabaseGauges(adapter))
            _registries[adapter] = registry
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST
