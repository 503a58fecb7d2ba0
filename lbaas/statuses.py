"""The vocabulary of statuses, roles and topologies, in one place.

StrEnums: each member is its string, so rows, JSON bodies and comparisons
with plain strings all keep working; typos become attribute errors.
"""

from enum import StrEnum


class Provisioning(StrEnum):
    ACTIVE = 'ACTIVE'
    PENDING_CREATE = 'PENDING_CREATE'
    PENDING_UPDATE = 'PENDING_UPDATE'
    PENDING_DELETE = 'PENDING_DELETE'
    DELETED = 'DELETED'
    ERROR = 'ERROR'


class Operating(StrEnum):
    ONLINE = 'ONLINE'
    OFFLINE = 'OFFLINE'
    DEGRADED = 'DEGRADED'
    ERROR = 'ERROR'
    DRAINING = 'DRAINING'
    NO_MONITOR = 'NO_MONITOR'


class AmphoraStatus(StrEnum):
    """How far an amphora's life has got; each build stage is recorded."""

    PENDING_CREATE = 'PENDING_CREATE'
    BOOTING = 'BOOTING'
    ALLOCATED = 'ALLOCATED'
    READY = 'READY'  # built, serving no LB yet: a warm-pool spare
    PENDING_DELETE = 'PENDING_DELETE'
    DELETED = 'DELETED'
    ERROR = 'ERROR'


class AmphoraRole(StrEnum):
    STANDALONE = 'STANDALONE'
    MASTER = 'MASTER'
    BACKUP = 'BACKUP'


class Topology(StrEnum):
    SINGLE = 'SINGLE'
    ACTIVE_STANDBY = 'ACTIVE_STANDBY'
    ACTIVE_ACTIVE = 'ACTIVE_ACTIVE'  # ours: N amphorae behind a distributor


PENDING = frozenset(
    {Provisioning.PENDING_CREATE, Provisioning.PENDING_UPDATE, Provisioning.PENDING_DELETE}
)
