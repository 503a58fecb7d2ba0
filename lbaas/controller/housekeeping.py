"""`lbaas housekeeping`: periodic sweeps that keep the database small.

Deleted load balancers and amphorae stay visible as DELETED rows (as in
Octavia) until they are older than their expiry age; then they are purged.
"""

import datetime
import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol, cast

from sqlalchemy import CursorResult, delete, select

from lbaas import config
from lbaas.controller import certificates, failover, hosts, reconcile, warm_pool
from lbaas.controller.snapshot import amphora_value
from lbaas.db import models, work
from lbaas.db import outage as db_outage
from lbaas.db import session as db
from lbaas.drivers import registry
from lbaas.drivers.base import ComputeDriver, Drivers, LoadBalancerNetwork
from lbaas.statuses import PENDING, AmphoraStatus, Provisioning, Topology

LOG = logging.getLogger(__name__)


class HostAmphora(Protocol):
    """An amphora a compute driver found running on this host."""

    amphora_id: str
    compute_id: str
    status: str


class HostInventory(Protocol):
    """A compute driver that can list this host's amphorae (not part of ComputeDriver)."""

    def list_amphorae(self) -> Sequence[HostAmphora]: ...

    def delete(self, compute_id: str) -> None: ...


class Distributors(Protocol):
    """A network driver with ACTIVE_ACTIVE distributors on this host."""

    def distributors(self) -> list[str]: ...

    def release_vip(self, lb: LoadBalancerNetwork) -> None: ...


def _inventory(compute: ComputeDriver) -> HostInventory | None:
    """`compute` if it can list this host's amphorae, else None."""
    if not hasattr(compute, 'list_amphorae'):
        return None
    return cast(HostInventory, compute)  # hasattr checked the one method ComputeDriver lacks


def purge_deleted(now: datetime.datetime | None = None) -> tuple[int, int]:
    now = now or models.utcnow()
    settings = config.CONF.house_keeping
    lb_cutoff = now - datetime.timedelta(seconds=settings.load_balancer_expiry_age)
    amp_cutoff = now - datetime.timedelta(seconds=settings.amphora_expiry_age)
    LB = models.LoadBalancer
    with db.writing() as session:
        lb_ids = list(
            session.scalars(
                select(LB.id).where(LB.provisioning_status == 'DELETED', LB.updated_at < lb_cutoff)
            )
        )
        if lb_ids:
            session.execute(delete(models.Tag).where(models.Tag.resource_id.in_(lb_ids)))
            session.execute(
                delete(models.VipSecurityGroup).where(
                    models.VipSecurityGroup.load_balancer_id.in_(lb_ids)
                )
            )
            session.execute(delete(LB).where(LB.id.in_(lb_ids)))
        amps = session.execute(
            delete(models.Amphora).where(
                models.Amphora.status == 'DELETED', models.Amphora.updated_at < amp_cutoff
            )
        )
    purged = cast('CursorResult[Any]', amps).rowcount  # a DELETE's result
    if lb_ids or purged:
        LOG.info('purged %d load balancers and %d amphorae', len(lb_ids), purged)
    return len(lb_ids), purged


def reap_amphorae(drivers: Drivers) -> int:
    """Tear down amphorae deleted through the API (their LB is not pending)."""
    Amp, LB = models.Amphora, models.LoadBalancer
    with db.reading() as session:
        doomed = list(
            session.scalars(
                select(Amp)
                .outerjoin(LB)
                .where(
                    Amp.status == 'PENDING_DELETE',
                    hosts.looked_after_here(),
                    (LB.id.is_(None)) | (LB.provisioning_status.not_in(PENDING)),
                )
            )
        )
    for amphora in doomed:
        reconcile.delete_amphora(amphora_value(amphora), drivers)
    return len(doomed)


def reap_stalled_builds(drivers: Drivers, now: datetime.datetime | None = None) -> int:
    """Tear down amphorae whose build stalled: still PENDING_CREATE or BOOTING
    `build_stall_age` after their last change, and no worker on their LB (its
    pass gave up, went to ERROR, or the LB is gone). The LB's next change or
    failover builds a new one."""
    age = datetime.timedelta(seconds=config.CONF.house_keeping.build_stall_age)
    Amp, LB = models.Amphora, models.LoadBalancer
    building = (AmphoraStatus.PENDING_CREATE, AmphoraStatus.BOOTING)
    with db.reading() as session:
        stalled = list(
            session.scalars(
                select(Amp)
                .outerjoin(LB)
                .where(
                    Amp.status.in_(building),
                    hosts.looked_after_here(),
                    Amp.updated_at < (now or models.utcnow()) - age,
                    (LB.id.is_(None)) | (LB.provisioning_status.not_in(PENDING)),
                )
            )
        )
    for amphora in stalled:
        LOG.warning('amphora %s: its build stalled; tearing it down', amphora.id)
        reconcile.delete_amphora(amphora_value(amphora), drivers)
    return len(stalled)


def sweep_host(drivers: Drivers) -> tuple[int, int]:
    """Match this host's amphorae with the database, both ways.

    A running amphora no live row owns (a build that died half way, a row
    purged by hand, a row since placed on another live host) is deleted. A
    row of this host whose amphora is gone or broken (a host reboot, a
    killed agent) is marked for failover and its LB given to the worker,
    which replaces it.
    """
    compute = _inventory(drivers.compute)
    if compute is None:
        return 0, 0
    on_host = {a.amphora_id: a for a in compute.list_amphorae()}
    Amp = models.Amphora
    with db.reading() as session:
        live: dict[str, models.Amphora] = {
            a.id: a for a in session.scalars(select(Amp).where(Amp.status != 'DELETED'))
        }
        others = set(hosts.live_names(session)) - {hosts.local()}
    removed = 0
    for amphora_id, found in on_host.items():
        row = live.get(amphora_id)
        elsewhere = row is not None and row.host in others  # placed again, built there
        if (row is None or elsewhere) and found.status != 'DELETED':
            compute.delete(found.compute_id)
            removed += 1
    broken = [
        a
        for a in live.values()
        if a.status == 'ALLOCATED'
        and a.host not in others
        and on_host.get(a.id) is not None
        and on_host[a.id].status in ('DELETED', 'ERROR')
    ]
    for amphora in broken:
        failover.request_failover(amphora.id, 'is gone from its host')
    return removed, len(broken)


def sweep_distributors(drivers: Drivers) -> tuple[int, int]:
    """Match this host's distributors with the ACTIVE_ACTIVE LBs, both ways.

    The distributor of an LB that is gone (a delete that died half way, rows
    purged by hand) is removed. An ACTIVE LB whose distributor is missing (a
    host reboot, a namespace deleted by hand) is given a pass, which makes
    it again. Returns (removed, passes given).
    """
    if not hasattr(drivers.network, 'distributors'):
        return 0, 0
    network = cast(Distributors, drivers.network)  # hasattr checked it
    on_host = set(network.distributors())  # before the read: a new one's LB is in it
    LB = models.LoadBalancer
    with db.reading() as session:  # only these have distributors
        rows = session.execute(
            select(LB.id, LB.provisioning_status).where(
                LB.topology == Topology.ACTIVE_ACTIVE,
                LB.provisioning_status != Provisioning.DELETED,
            )
        ).all()
    gone = on_host - {row.id for row in rows}
    for lb_id in gone:
        LOG.warning('load balancer %s is gone: removing its distributor', lb_id)
        network.release_vip(LoadBalancerNetwork(id=lb_id, topology=Topology.ACTIVE_ACTIVE, vips=()))
    lost = [
        row.id
        for row in rows
        if row.provisioning_status == Provisioning.ACTIVE and row.id not in on_host
    ]
    given = sum(_give_pass(lb_id, 'its distributor is missing') for lb_id in lost)
    return len(gone), given


def _give_pass(lb_id: str, reason: str) -> bool:
    """A reconcile pass for an ACTIVE LB, which makes what it lacks again."""
    with work.writing() as session:
        lb = session.get(models.LoadBalancer, lb_id, with_for_update={'of': models.LoadBalancer})
        if lb is None or lb.provisioning_status != Provisioning.ACTIVE:
            return False
        work.give_work(session, lb, [lb])
        LOG.warning('load balancer %s: %s; giving it a pass', lb_id, reason)
        return True


def sweep(drivers: Drivers, outage: db_outage.Outage, interval: float) -> float:
    """One round of every sweep; returns the pause before the next round."""
    try:
        purge_deleted()
        reap_amphorae(drivers)
        reap_stalled_builds(drivers)
        sweep_host(drivers)
        sweep_distributors(drivers)
        certificates.sweep(drivers)  # every [house_keeping] cert_interval, and at once
    except Exception as exc:  # a database outage or hiccup must not end the sweeps
        return outage.failed(exc, interval)
    outage.ended()
    return interval


def run(stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    interval = config.CONF.house_keeping.cleanup_interval
    drivers = registry.load()
    outage = db_outage.Outage('housekeeping')
    helpers = [threading.Thread(target=warm_pool.run, args=(drivers, stop), name='warm-pool')]
    if hosts.placing():  # the host lives while its workers or its housekeeping do
        helpers.append(threading.Thread(target=hosts.beat, args=(stop,), name='host-beat'))
    for thread in helpers:
        thread.start()
    while not stop.is_set():
        stop.wait(sweep(drivers, outage, interval))
    for thread in helpers:
        thread.join()
