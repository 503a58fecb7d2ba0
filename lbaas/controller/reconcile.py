"""`reconcile(lb_id)`: make the world match the database, idempotently.

Every step can run again after a crash at any point: amphora rows record
how far each build got, pushes are skipped where the running digest already
matches, and the final transaction is where statuses change. The worker that
calls this holds the LB's lease (see `worker.py`).
"""
import logging

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from lbaas.controller import leases
from lbaas.db import models
from lbaas.db import session as db
from lbaas.service import graph, lifecycle

LOG = logging.getLogger(__name__)
ROLES = {'SINGLE': [('STANDALONE', None)],
         'ACTIVE_STANDBY': [('MASTER', 100), ('BACKUP', 90)]}
READY_TIMEOUT = 30.0


def _load(session, lb_id, lock=False):
    """The LB graph; `lock` takes the LB row's lock first (the API's writes
    queue on it), so the generation and lease checked are current."""
    stmt = select(models.LoadBalancer).where(models.LoadBalancer.id == lb_id).options(
        selectinload(models.LoadBalancer.listeners).selectinload(models.Listener.l7policies)
        .selectinload(models.L7Policy.rules),
        selectinload(models.LoadBalancer.pools).selectinload(models.Pool.members),
        selectinload(models.LoadBalancer.pools).selectinload(models.Pool.health_monitor),
        selectinload(models.LoadBalancer.amphorae))
    if lock:
        stmt = stmt.with_for_update(of=models.LoadBalancer)
    return session.scalars(stmt).first()


def reconcile(lb_id, drivers, lease):
    with db.reading() as session:
        lb = _load(session, lb_id)
        if lb is None or lb.provisioning_status not in lifecycle.PENDING:
            return
        generation, deleting = lb.generation, lb.provisioning_status == lifecycle.PENDING_DELETE
    if deleting:
        _tear_down(lb_id, drivers, lease)
        finish_delete(lb_id, lease)
        return
    amphorae = _ensure_amphorae(lb_id, drivers, lease)
    with db.reading() as session:
        lb = _load(session, lb_id)
        bundles = [(a, drivers.amphora.bundle_for(lb, a)) for a in amphorae]
        member_subnets = drivers.network.member_subnet_ids(
            {m.ip_address for p in lb.pools for m in p.members})
    for amphora, bundle in bundles:
        drivers.network.plug_member_subnets(amphora, member_subnets)
        if drivers.amphora.running_digest(amphora) != bundle.digest():
            _record_push(amphora.id, drivers.amphora.push(amphora, bundle))
        lease.renew()
    finish(lb_id, generation, lease)


def _live_amphorae(session, lb_id):
    stmt = select(models.Amphora).where(models.Amphora.load_balancer_id == lb_id,
                                        models.Amphora.status != 'DELETED')
    return list(session.scalars(stmt))


def _ensure_amphorae(lb_id, drivers, lease):
    """The amphorae the topology needs, built, plugged and answering."""
    with db.writing() as session:
        lb = session.get(models.LoadBalancer, lb_id)
        replace_all = lb.failover_requested
        current = _live_amphorae(session, lb_id)
        for amphora in current:
            if replace_all or amphora.failover_requested or amphora.status == 'ERROR':
                amphora.status = 'PENDING_DELETE'
        wanted = ROLES[lb.topology]
        keep = {a.role for a in current if a.status != 'PENDING_DELETE'}
        for role, priority in wanted:
            if role not in keep:
                session.add(models.Amphora(load_balancer_id=lb_id, status='PENDING_CREATE',
                                           role=role, vrrp_priority=priority,
                                           vrrp_id=1 if priority else None))
    with db.reading() as session:
        lb = _load(session, lb_id)
        amphorae = _live_amphorae(session, lb_id)
    for amphora in amphorae:
        if amphora.status == 'PENDING_DELETE':
            delete_amphora(amphora, drivers)
        elif amphora.status != 'ALLOCATED':
            _build_amphora(amphora, lb, drivers)
        lease.renew()
    with db.reading() as session:
        return _live_amphorae(session, lb_id)


def _build_amphora(amphora, lb, drivers):
    if amphora.compute_id and drivers.compute.status(amphora.compute_id) == 'ERROR':
        drivers.compute.delete(amphora.compute_id)  # a half-built leftover
    compute_id = drivers.compute.build(amphora.id, lb.id)
    _update_amphora(amphora.id, compute_id=compute_id, status='BOOTING')
    addressing = drivers.network.plug_amphora(amphora, lb)
    amphora = _update_amphora(amphora.id, **addressing)
    drivers.amphora.wait_ready(amphora, READY_TIMEOUT)
    _update_amphora(amphora.id, status='ALLOCATED')


def delete_amphora(amphora, drivers):
    drivers.network.unplug_amphora(amphora)
    # A build that died before recording its compute id still left something.
    drivers.compute.delete(amphora.compute_id or drivers.compute.compute_id_for(amphora.id))
    _update_amphora(amphora.id, status='DELETED', load_balancer_id=None)


def _update_amphora(amphora_id, **values):
    with db.writing() as session:
        amphora = session.get(models.Amphora, amphora_id)
        for key, value in values.items():
            setattr(amphora, key, value)
        return amphora


def _record_push(amphora_id, digest):
    _update_amphora(amphora_id, config_digest=digest)


def _tear_down(lb_id, drivers, lease):
    with db.reading() as session:
        lb = _load(session, lb_id)
        amphorae = _live_amphorae(session, lb_id)
    for amphora in amphorae:
        delete_amphora(amphora, drivers)
        lease.renew()
    drivers.network.release_vip(lb)


def _settle(obj, session):
    """A pending object after a successful reconcile: ACTIVE, or gone."""
    if obj.provisioning_status == lifecycle.PENDING_DELETE:
        session.delete(obj)
    elif obj.provisioning_status in lifecycle.PENDING:
        if obj.provisioning_status == lifecycle.PENDING_CREATE and \
                isinstance(obj, models.HealthMonitor):
            obj.operating_status = lifecycle.ONLINE  # as Octavia's noop flows do
        obj.provisioning_status = lifecycle.ACTIVE


def finish(lb_id, generation, lease):
    with db.writing() as session:
        lb = _load(session, lb_id, lock=True)
        if not leases.still_mine(lb, lease):
            return  # another pass owns the LB now
        if lb.generation != generation:
            leases.release(lb, session)  # new work arrived: the next pass takes it
            return
        for pool in lb.pools:
            if pool.provisioning_status == lifecycle.PENDING_DELETE:
                for listener in pool.default_listeners:
                    listener.default_pool = None
        _compact_positions(lb)
        for obj in list(graph.descendants(lb)):
            _settle(obj, session)
        lb.provisioning_status = lifecycle.ACTIVE
        lb.failover_requested = False
        for amphora in lb.amphorae:
            amphora.failover_requested = False
        leases.release(lb, session)


def _compact_positions(lb):
    """L7 policies that stay are renumbered 1..n, as Octavia's ordering list."""
    for listener in lb.listeners:
        staying = [p for p in listener.l7policies
                   if p.provisioning_status != lifecycle.PENDING_DELETE]
        for number, policy in enumerate(staying, start=1):
            policy.position = number


def finish_delete(lb_id, lease):
    with db.writing() as session:
        lb = _load(session, lb_id, lock=True)
        if not leases.still_mine(lb, lease):
            return
        for obj in list(graph.descendants(lb)):
            session.delete(obj)
        lb.vip = None  # frees the address for the next LB
        lb.additional_vips = []
        lb.provisioning_status = lifecycle.DELETED
        lb.operating_status = lifecycle.OFFLINE
        leases.release(lb, session)
