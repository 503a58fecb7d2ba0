"""Provider drivers installed under octavia-lib's entry point group.

A third-party provider written for Octavia registers its `ProviderDriver`
class under `octavia.api.drivers`; it is *external* here when its name is
enabled in `[api_settings] enabled_provider_drivers` and is not one of the
native providers (the amphora provider and its aliases, the noop provider),
which lbaas serves itself whatever else is installed.

External providers own their data plane: the API hands them each write
(`service/provider_drivers.py`), the worker leaves their load balancers alone
(`leases.claimable_ids`), and their status callbacks arrive through the
driver agent (`controller/driver_agent.py`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import threading
from typing import Any

from lbaas import config

LOG = logging.getLogger(__name__)
GROUP = 'octavia.api.drivers'
NATIVE = frozenset({'amphora', 'octavia', 'amphorav2', 'noop_driver', 'noop'})

_lock = threading.Lock()
_instances: dict[str, Any] = {}


@functools.lru_cache(maxsize=1)
def installed() -> dict[str, importlib.metadata.EntryPoint]:
    """Every entry point of the group, by name (the first one found wins)."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for entry in importlib.metadata.entry_points(group=GROUP):
        found.setdefault(entry.name, entry)
    return found


def forget() -> None:
    """Look for installed drivers again (tests that install one at run time)."""
    installed.cache_clear()
    with _lock:
        _instances.clear()


def is_external(name: str | None) -> bool:
    return bool(name) and name not in NATIVE and name in installed()


def external_names() -> list[str]:
    """Enabled providers served by an installed octavia-lib driver."""
    enabled = config.CONF.api_settings.enabled_provider_drivers
    return sorted(name for name in enabled if is_external(name))


def driver(name: str) -> Any:
    """The provider's driver object, made once per process, as Octavia's
    driver factory does (stevedore, invoke_on_load)."""
    with _lock:
        if name not in _instances:
            cls = installed()[name].load()
            _instances[name] = cls()
            LOG.info('loaded provider driver %s from %s', name, installed()[name].value)
        return _instances[name]
