"""`reconcile(lb_id)`: make the world match the database, idempotently.

A pass reads the LB's graph once (snapshot.py), decides what to do without
side effects (plan.py), then runs named steps: record the plan, build and plug
amphorae, check they answer, render, push, hand the VIPs over, retire the
amphorae replaced, settle. Replacements are built before what they replace
is removed, so a failover of a serving amphora moves a working VIP. It returns a `Result`
(done, or run again after a delay) instead of blocking on a booting agent.

Every step can run again after a crash at any point: amphora rows record how
far each build got, pushes are skipped where the running digest already
matches, and the final transaction, which re-checks lease and generation
under the LB's lock, is where statuses change. The worker that calls this
holds the LB's lease (see `worker.py`).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from lbaas import config, wire
from lbaas.controller import hosts, leases, settle, spares, tls
from lbaas.controller.plan import SERVING, Plan, plan
from lbaas.controller.snapshot import Snapshot, amphora_value, load
from lbaas.dataplane import keepalived, nftables, render
from lbaas.dataplane import viewmodel as vm
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers.base import Addressing, Amphora, Drivers, TransientError
from lbaas.statuses import AmphoraStatus, Topology

LOG = logging.getLogger(__name__)
READY_TIMEOUT = 30.0  # seconds an agent may take to answer after its build
BOOT_POLL = 0.02  # seconds between readiness checks of a booting agent


@dataclasses.dataclass(frozen=True)
class Result:
    """How a pass ended: done, or worth running again after `requeue_after` s;
    `summary` says what it changed (the worker logs it), `request_id` names
    the API request that gave the work."""

    requeue_after: float | None = None
    summary: str = ''
    request_id: str | None = None

    @property
    def done(self) -> bool:
        return self.requeue_after is None


DONE = Result()


def reconcile(lb_id: str, drivers: Drivers, lease: leases.Lease) -> Result:
    snap = load(lb_id)
    if snap is None or not snap.pending:
        return DONE
    todo = plan(snap)
    if snap.deleting:
        _retire(todo.retire, snap, drivers, lease)
        drivers.network.release_vip(snap.network)
        settle.finish_delete(lb_id, lease)
        return Result(summary='deleted', request_id=snap.request_id)
    amphorae = {a.value.id: a.value for a in snap.amphorae}
    if todo.changes_amphorae:
        amphorae.update(_record_plan(snap, todo))
        todo = dataclasses.replace(
            todo,
            build=todo.build
            + tuple(a for a in amphorae if a not in todo.keep and a not in todo.retire),
        )
    _leave_distribution(todo, amphorae, snap, drivers)
    amphorae.update(_build(todo, amphorae, snap, drivers))
    serving = [amphorae[a] for a in amphorae if a not in todo.retire]
    if not _all_ready(serving, snap, drivers):
        return Result(requeue_after=BOOT_POLL, request_id=snap.request_id)
    digests, pushed = _push(serving, snap, drivers, lease)
    # Build before remove: the amphorae being replaced serve until their
    # replacements do, then the VIPs move and the old ones go.
    for amphora in serving:
        drivers.network.hold_vips(amphora, snap.network)
    if snap.topology == Topology.ACTIVE_ACTIVE:
        drivers.network.distribute(snap.network, serving)
    _retire(todo.retire, snap, drivers, lease)
    settle.finish(snap, lease, digests)
    summary = '%d object(s) settled; %d amphora(e) built, %d retired; pushed to %d of %d' % (
        len(snap.unsettled),
        len(todo.create),
        len(todo.retire),
        pushed,
        len(serving),
    )
    return Result(summary=summary, request_id=snap.request_id)


def _leave_distribution(
    todo: Plan, amphorae: dict[str, Amphora], snap: Snapshot, drivers: Drivers
) -> None:
    """ACTIVE_ACTIVE: amphorae being retired stop getting flows at once,
    while their replacements build, when others still serve. (A failover of
    the whole LB keeps the old ones serving until the new ones do.)"""
    if snap.topology != Topology.ACTIVE_ACTIVE or not todo.retire:
        return
    staying = [amphorae[a] for a in todo.keep if amphorae[a].status == SERVING]
    if staying:
        drivers.network.distribute(snap.network, staying)


def _record_plan(snap: Snapshot, todo: Plan) -> dict[str, Amphora]:
    """One transaction: retired amphorae marked, new ones added; returns the new ones."""
    with db.writing() as session:
        if todo.retire:
            session.execute(
                update(models.Amphora)
                .where(models.Amphora.id.in_(todo.retire))
                .values(status=AmphoraStatus.PENDING_DELETE)
            )
        rows = [_new_amphora(session, snap, new.role, new.vrrp_priority) for new in todo.create]
        session.flush()
        return {row.id: amphora_value(row) for row in rows}


def _new_amphora(
    session: Session, snap: Snapshot, role: str, vrrp_priority: int | None
) -> models.Amphora:
    """A spare from the warm pool if one is left, else a row to build."""
    host = hosts.place(session, snap.lb_id, snap.topology) if hosts.placing() else None
    fields = {
        'role': role,
        'vrrp_priority': vrrp_priority,
        'vrrp_id': 1 if vrrp_priority else None,
    }
    if spares.usable(snap.topology) and (spare := spares.take(session, snap.lb_id, fields, host)):
        return spare
    row = models.Amphora(
        id=models.new_id(),
        load_balancer_id=snap.lb_id,
        status=AmphoraStatus.PENDING_CREATE,
        host=host,
        **fields,
    )
    session.add(row)
    session.flush()  # seen by the next place(): a pair's second amphora avoids this host
    return row


def _retire(
    amphora_ids: tuple[str, ...], snap: Snapshot, drivers: Drivers, lease: leases.Lease
) -> None:
    by_id = {a.value.id: a.value for a in snap.amphorae}
    for amphora_id in amphora_ids:
        if amphora_id in by_id:
            delete_amphora(by_id[amphora_id], drivers)
            lease.renew()


def delete_amphora(amphora: Amphora, drivers: Drivers) -> None:
    """Unplug and delete an amphora on the host, then mark its row DELETED."""
    drivers.network.unplug_amphora(amphora)
    # A build that died before recording its compute id still left something.
    drivers.compute.delete(amphora.compute_id or drivers.compute.compute_id_for(amphora.id))
    with db.writing() as session:
        session.execute(
            update(models.Amphora)
            .where(models.Amphora.id == amphora.id)
            .values(status=AmphoraStatus.DELETED, load_balancer_id=None)
        )


def _needs_build(amphora: Amphora, drivers: Drivers) -> bool:
    """No compute instance yet, or a broken one (then deleted)."""
    if not amphora.compute_id:
        return True
    if drivers.compute.status(amphora.compute_id) in (AmphoraStatus.ERROR, AmphoraStatus.DELETED):
        drivers.compute.delete(amphora.compute_id)  # a half-built leftover, a broken spare
        return True
    return False


def _build(
    todo: Plan, amphorae: dict[str, Amphora], snap: Snapshot, drivers: Drivers
) -> dict[str, Amphora]:
    """Build and plug what needs it; one transaction records them all as BOOTING.

    A PENDING_CREATE amphora with a compute id is a spare taken from the
    warm pool: built already, it is only plugged."""
    built: list[tuple[Amphora, Addressing]] = []
    for amphora_id in todo.build:
        amphora = amphorae[amphora_id]
        if amphora.status == SERVING:
            continue
        needs_build = _needs_build(amphora, drivers)
        if amphora.status == AmphoraStatus.BOOTING and not needs_build:
            continue  # built and plugged by an earlier pass
        compute_id = (
            drivers.compute.build(amphora.id, snap.lb_id) if needs_build else amphora.compute_id
        )
        amphora = dataclasses.replace(amphora, compute_id=compute_id, status=AmphoraStatus.BOOTING)
        addressing = drivers.network.plug_amphora(amphora, snap.network)
        built.append(
            (
                dataclasses.replace(
                    amphora,
                    lb_network_ip=addressing.lb_network_ip,
                    vrrp_ip=addressing.vrrp_ip,
                    vrrp_port_id=addressing.vrrp_port_id,
                    vrrp_interface=addressing.vrrp_interface,
                ),
                addressing,
            )
        )
    if built:
        with db.writing() as session:
            for amphora, addressing in built:
                session.execute(
                    update(models.Amphora)
                    .where(models.Amphora.id == amphora.id)
                    .values(
                        status=AmphoraStatus.BOOTING,
                        compute_id=amphora.compute_id,
                        **dataclasses.asdict(addressing),
                    )
                )
    return {amphora.id: amphora for amphora, _ in built}


def _all_ready(serving: list[Amphora], snap: Snapshot, drivers: Drivers) -> bool:
    booting = [a for a in serving if a.status != SERVING]
    if all(drivers.amphora.ready(a) for a in booting):
        return True
    since = {a.value.id: a.updated_at for a in snap.amphorae}
    # models.utcnow is unannotated (lbaas/db/models.py)
    oldest = min(
        (since.get(a.id) or models.utcnow() for a in booting),
        default=None,
    )
    if oldest and models.utcnow() - oldest > datetime.timedelta(seconds=READY_TIMEOUT):
        raise TransientError('amphora agents not ready after %.0f s' % READY_TIMEOUT)
    return False


def render_bundle(
    snap: Snapshot,
    amphora: Amphora,
    drivers: Drivers,
    serving: Sequence[Amphora] | None = None,
    cert_files: dict[str, str] | None = None,
) -> wire.ConfigBundle:
    """Render the amphora's bundle, paths inside its own runtime dir.

    Under ACTIVE_STANDBY the bundle also carries keepalived's configuration
    and check script, and HAProxy replicates stick tables: both with the
    other amphorae of `serving` (default: the snapshot's), once their VRRP
    addresses are known. `cert_files` are the certificate files the view
    names (default: fetched now).
    """
    assert snap.view is not None
    runtime_dir = drivers.compute.runtime_dir(amphora.id)
    paths = render.RuntimePaths.in_state_dir(runtime_dir, cert_dir='certs', pid_file=False)
    pair = [a for a in (serving or [s.value for s in snap.amphorae]) if a.vrrp_ip]
    vrrp = _vrrp_instance(snap, amphora, pair)
    if cert_files is None:
        cert_files = tls.bundle_files(snap.project_id, snap.tls_files)
    # UDP listeners: nftables, not HAProxy
    files = nftables.bundle_files(snap.view) | cert_files
    if vrrp is None:
        return wire.ConfigBundle(haproxy_cfg=render.render_haproxy(snap.view, paths), files=files)
    view = dataclasses.replace(
        snap.view,
        peers=tuple(vm.PeerView(name=a.id, address=a.vrrp_ip or '') for a in pair),
        local_peer=amphora.id,
    )
    vrrp_paths = keepalived.KeepalivedPaths.in_state_dir(runtime_dir)
    return wire.ConfigBundle(
        haproxy_cfg=render.render_haproxy(view, paths),
        files={keepalived.CHECK_SCRIPT_FILE: keepalived.render_check_script(vrrp_paths)} | files,
        keepalived_cfg=keepalived.render_keepalived(vrrp, vrrp_paths),
    )


def _vrrp_instance(
    snap: Snapshot, amphora: Amphora, pair: list[Amphora]
) -> keepalived.VrrpInstanceView | None:
    """This amphora's side of the VRRP pair; None if not ACTIVE_STANDBY or
    not yet addressed (the noop network driver never addresses one)."""
    if (
        snap.topology != Topology.ACTIVE_STANDBY
        or snap.view is None
        or not amphora.vrrp_ip
        or not amphora.vrrp_interface
    ):
        return None
    settings = config.CONF.keepalived_vrrp
    return keepalived.VrrpInstanceView(
        lb_id=snap.lb_id,
        amphora_id=amphora.id,
        interface=amphora.vrrp_interface,
        virtual_router_id=amphora.vrrp_id or 1,
        priority=amphora.vrrp_priority or 90,
        source_ip=amphora.vrrp_ip,
        peer_ips=tuple(a.vrrp_ip for a in pair if a.id != amphora.id and a.vrrp_ip),
        vips=snap.view.vips,
        timers=keepalived.VrrpTimers(
            advert_int=settings.vrrp_advert_int,
            check_interval=settings.vrrp_check_interval,
            fail_count=settings.vrrp_fail_count,
            success_count=settings.vrrp_success_count,
            garp_refresh_interval=settings.vrrp_garp_refresh_interval,
            garp_refresh_count=settings.vrrp_garp_refresh_count,
        ),
    )


def _push(
    serving: list[Amphora], snap: Snapshot, drivers: Drivers, lease: leases.Lease
) -> tuple[dict[str, str], int]:
    """Push each amphora's bundle where its running digest differs;
    ({id: digest}, how many were pushed)."""
    subnets = drivers.network.member_subnet_ids(snap.member_addresses)
    digests = {}
    pushed = 0
    cert_files = tls.bundle_files(snap.project_id, snap.tls_files)
    for amphora in serving:
        bundle = render_bundle(snap, amphora, drivers, serving, cert_files)
        drivers.network.plug_member_subnets(amphora, subnets)
        digest = bundle.digest()
        if drivers.amphora.running_digest(amphora) != digest:
            digest = drivers.amphora.push(amphora, bundle)
            pushed += 1
        digests[amphora.id] = digest
        lease.renew()
    return digests, pushed
