"""`lbaas worker`: claim load balancers that have work and reconcile them.

Work is found two ways: a poll every `poll_interval` seconds (the source of
truth) and wake-ups from the API (a latency hint: UDP datagrams, or the
message broker when `transport_url` is set; see `lbaas/wakeup.py`). Each claimed LB runs
on a thread of a small pool; failures retry with exponential backoff and,
past `max_attempts` or on a permanent error, end in ERROR where Octavia
would put them, never in a PENDING state.

On a netns data plane the worker also registers its host and serves the
other hosts' calls for the amphorae that live here (hosts.py, remote.py).
"""

import concurrent.futures
import datetime
import logging
import threading
import time

from sqlalchemy import update

from lbaas import config, wakeup
from lbaas.controller import hosts, leases, reconcile, remote
from lbaas.controller.snapshot import children
from lbaas.db import models, outage
from lbaas.db import session as db
from lbaas.drivers import base as driver_base
from lbaas.drivers import registry
from lbaas.drivers.base import Drivers
from lbaas.statuses import PENDING, Provisioning

LOG = logging.getLogger(__name__)


class Worker:
    def __init__(self, drivers: Drivers | None = None, owner: str | None = None) -> None:
        self.data_plane_host = drivers is None and hosts.placing()
        self.drivers = drivers or registry.load()
        if self.data_plane_host:
            self.host_server = remote.HostServer(self.drivers.compute, self.drivers.network)
            self.drivers = remote.routed(self.drivers)
        self.owner = owner or leases.owner_id()
        settings = config.CONF.controller_worker
        self.threads = settings.threads
        self.pool = concurrent.futures.ThreadPoolExecutor(
            settings.threads, thread_name_prefix='reconcile'
        )
        self.in_flight: set[str] = set()
        # Leases this worker may hold but could not release, the database
        # being away: given back as soon as it answers again.
        self.stranded: set[str] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.outage = outage.Outage('worker %s' % self.owner)
        self.swept = False

    def run(self, listener: wakeup.Listener | None = None) -> None:
        """Poll until stopped; a database outage is waited out, never fatal."""
        listener = listener or wakeup.listener()
        settings = config.CONF.controller_worker
        LOG.info('worker %s polling every %.1fs', self.owner, settings.poll_interval)
        helpers = self._host_threads()
        try:
            while not self.stopping.is_set():
                self._wait(listener, self.poll_once(settings.poll_interval))
        finally:
            self.stopping.set()
            listener.close()
            self.pool.shutdown(wait=True)
            for thread in helpers:
                thread.join()

    def _host_threads(self) -> list[threading.Thread]:
        """A data-plane host's registration and, with a broker, its RPC server."""
        if not self.data_plane_host:
            return []
        threads = [threading.Thread(target=hosts.beat, args=(self.stopping,), name='host-beat')]
        if wakeup.broker_configured():
            threads.append(
                threading.Thread(
                    target=remote.serve, args=(self.host_server, self.stopping), name='host-rpc'
                )
            )
        for thread in threads:
            thread.start()
        return threads

    def _wait(self, listener: wakeup.Listener, seconds: float) -> None:
        """Until a wake-up arrives, `seconds` pass or stop() is called (seen
        within a second, however long the poll interval)."""
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or listener.wait(min(left, 1.0)):
                return

    def poll_once(self, usual: float) -> float:
        """One look for work; returns how long to wait before the next."""
        try:
            if not self.swept:
                leases.release_dead_local_owners()
                self.swept = True
            self.release_stranded()
            self.dispatch(leases.claimable_ids())
        except Exception as exc:
            return self.outage.failed(exc, usual)
        self.outage.ended()
        return usual

    def stop(self) -> None:
        self.stopping.set()

    def dispatch(self, lb_ids: list[str]) -> None:
        for lb_id in lb_ids:
            with self.lock:
                # Claim only what a free thread starts at once: a lease that
                # waits in a queue is not renewed and could expire meanwhile.
                if (
                    lb_id in self.in_flight
                    or lb_id in self.stranded
                    or len(self.in_flight) >= self.threads
                ):
                    continue
                self.in_flight.add(lb_id)
            try:
                lease = leases.claim(lb_id, self.owner)
            except BaseException:
                self._strand(lb_id)  # the claim may have landed before the error
                raise
            if lease is None:
                self._done(lb_id)
                continue
            try:
                self.pool.submit(self.run_one, lease)
            except RuntimeError:  # the pool shut down: stop() came meanwhile
                release_own_leases({lb_id}, self.owner)
                self._done(lb_id)
                return

    def _done(self, lb_id: str) -> None:
        with self.lock:
            self.in_flight.discard(lb_id)

    def _strand(self, lb_id: str) -> None:
        with self.lock:
            self.stranded.add(lb_id)
            self.in_flight.discard(lb_id)

    def release_stranded(self) -> None:
        """Give back the leases a lost database kept us from releasing.

        No pass runs on them (dispatch skips stranded ids), so this frees
        them for the next poll, here or on another worker, without waiting
        for the lease to expire.
        """
        with self.lock:
            lb_ids = set(self.stranded)
        if not lb_ids:
            return
        release_own_leases(lb_ids, self.owner)
        with self.lock:
            self.stranded -= lb_ids
        LOG.info(
            'worker %s: released %d lease(s) held over a database outage', self.owner, len(lb_ids)
        )

    def run_one(self, lease: leases.Lease) -> None:
        try:
            self._attempt(lease)
        except Exception as exc:  # not even the failure could be recorded
            self._trouble(exc, 'load balancer %s: recording a failed attempt' % lease.lb_id)
            self._strand(lease.lb_id)  # its lease goes back once the database answers
        finally:
            self._done(lease.lb_id)
        # A thread is free again, and writes may have landed while we worked:
        # looking now saves a poll interval.
        if not self.stopping.is_set() and not self.outage.active:
            try:
                self.dispatch(leases.claimable_ids())
            except Exception as exc:  # the poll loop looks again
                self._trouble(exc, 'looking for more work')

    def _trouble(self, exc: Exception, what: str) -> None:
        """Log an error of a reconcile thread: once per outage if the database is away."""
        if outage.database_unavailable(exc):
            self.outage.failed(exc, 0)
        else:
            LOG.error('%s failed', what, exc_info=exc)

    def _attempt(self, lease: leases.Lease) -> None:
        """One reconcile pass; a failure is recorded (retry or ERROR)."""
        started = time.monotonic()
        try:
            result = reconcile.reconcile(lease.lb_id, self.drivers, lease)
            if not result.done:
                self._requeue(lease, result.requeue_after or 0.0)
            elif result.summary:
                LOG.info(
                    'load balancer %s [%s]: %s in %.3fs',
                    lease.lb_id,
                    result.request_id or '-',
                    result.summary,
                    time.monotonic() - started,
                )
        except driver_base.PermanentError as exc:
            LOG.error('load balancer %s failed: %s', lease.lb_id, exc)
            record_failure(lease, str(exc), permanent=True)
        except Exception as exc:  # anything else is worth another try
            if outage.database_unavailable(exc):
                self.outage.failed(exc, 0)  # one warning per outage, not one per LB
            else:
                LOG.warning(
                    'load balancer %s: attempt failed: %s',
                    lease.lb_id,
                    exc,
                    exc_info=LOG.isEnabledFor(logging.DEBUG),
                )
            record_failure(
                lease,
                '%s: %s' % (type(exc).__name__, exc),
                permanent=False,
                delay=getattr(exc, 'delay', None),
            )

    def _requeue(self, lease: leases.Lease, delay: float) -> None:
        """Run the pass again after `delay` s, still under our lease: the thread
        is free meanwhile (a booting agent does not hold one)."""

        def again() -> None:
            if self.stopping.is_set():
                release_own_leases({lease.lb_id}, self.owner)
                return
            with self.lock:
                self.in_flight.add(lease.lb_id)
            try:
                lease.renew(force=True)
                self.pool.submit(self.run_one, lease)
            except Exception as exc:
                self._trouble(exc, 'load balancer %s: requeue' % lease.lb_id)
                self._strand(lease.lb_id)

        timer = threading.Timer(delay, again)
        timer.daemon = True
        timer.start()


@db.retried
def release_own_leases(lb_ids: set[str], owner: str) -> None:
    """Free `owner`'s leases on `lb_ids` (the ones another owner took stay)."""
    LB = models.LoadBalancer
    with db.writing() as session:
        session.execute(
            update(LB)
            .where(LB.id.in_(sorted(lb_ids)), LB.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )


@db.retried
def record_failure(
    lease: leases.Lease, reason: str, permanent: bool, delay: float | None = None
) -> None:
    """Count a failed attempt: retry after a backoff (or `delay`), or give up."""
    settings = config.CONF.controller_worker
    with db.writing() as session:
        lb: models.LoadBalancer | None = session.get(
            models.LoadBalancer, lease.lb_id, with_for_update={'of': models.LoadBalancer}
        )
        if not leases.still_mine(lb, lease):
            return
        lb.attempts = (lb.attempts or 0) + 1
        lb.last_error = reason[:2000]
        if permanent or lb.attempts >= settings.max_attempts:
            _mark_failed(lb)
        else:
            if delay is None:
                delay = settings.retry_backoff * 2 ** (lb.attempts - 1)
            now = models.utcnow()
            lb.next_attempt_at = now + datetime.timedelta(seconds=delay)
        leases.release(lb, session)


def _mark_failed(lb: models.LoadBalancer) -> None:
    """Octavia's revert: the write's targets go to ERROR, their parents ACTIVE."""
    targets = set(lb.pending_targets or [])
    for obj in children(lb):
        if obj.provisioning_status in PENDING:
            failed = obj.id in targets or obj.provisioning_status == Provisioning.PENDING_DELETE
            obj.provisioning_status = Provisioning.ERROR if failed else Provisioning.ACTIVE
    lb.provisioning_status = Provisioning.ERROR if lb.id in targets else Provisioning.ACTIVE
    lb.failover_requested = False
    LOG.error(
        'load balancer %s [%s]: giving up after %d attempts: %s',
        lb.id,
        lb.request_id or '-',
        lb.attempts,
        lb.last_error,
    )
