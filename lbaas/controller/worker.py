"""`lbaas worker`: claim load balancers that have work and reconcile them.

Work is found two ways: a poll every `poll_interval` seconds (the source of
truth) and UDP wake-ups from the API (a latency hint). Each claimed LB runs
on a thread of a small pool; failures retry with exponential backoff and,
past `max_attempts` or on a permanent error, end in ERROR where Octavia
would put them, never in a PENDING state.
"""
import concurrent.futures
import datetime
import logging
import threading

from lbaas import config
from lbaas.controller import leases, reconcile, status, wakeup
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers import base as driver_base
from lbaas.drivers import registry
from lbaas.service import graph, lifecycle

LOG = logging.getLogger(__name__)


class Worker:
    def __init__(self, drivers=None, owner=None):
        self.drivers = drivers or registry.load()
        self.owner = owner or leases.owner_id()
        settings = config.CONF.controller_worker
        self.threads = settings.threads
        self.pool = concurrent.futures.ThreadPoolExecutor(settings.threads,
                                                          thread_name_prefix='reconcile')
        self.in_flight = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self, listener=None):
        leases.release_dead_local_owners()
        listener = listener or wakeup.Listener()
        settings = config.CONF.controller_worker
        if registry.driver_name('amphora_driver') != 'noop':
            status.start(self.drivers, settings.status_poll_interval, self.stopping)
        interval = settings.poll_interval
        LOG.info('worker %s polling every %.1fs', self.owner, interval)
        try:
            while not self.stopping.is_set():
                self.dispatch(leases.claimable_ids())
                listener.wait(interval)
        finally:
            listener.close()
            self.pool.shutdown(wait=True)

    def stop(self):
        self.stopping.set()

    def dispatch(self, lb_ids):
        for lb_id in lb_ids:
            with self.lock:
                # Claim only what a free thread starts at once: a lease that
                # waits in a queue is not renewed and could expire meanwhile.
                if lb_id in self.in_flight or len(self.in_flight) >= self.threads:
                    continue
                self.in_flight.add(lb_id)
            lease = leases.claim(lb_id, self.owner)
            if lease is None:
                self._done(lb_id)
                continue
            self.pool.submit(self.run_one, lease)

    def _done(self, lb_id):
        with self.lock:
            self.in_flight.discard(lb_id)

    def run_one(self, lease):
        try:
            reconcile.reconcile(lease.lb_id, self.drivers, lease)
        except driver_base.PermanentError as exc:
            LOG.error('load balancer %s failed: %s', lease.lb_id, exc)
            record_failure(lease, str(exc), permanent=True)
        except Exception as exc:  # anything else is worth another try
            LOG.warning('load balancer %s: attempt failed: %s', lease.lb_id, exc,
                        exc_info=LOG.isEnabledFor(logging.DEBUG))
            record_failure(lease, '%s: %s' % (type(exc).__name__, exc), permanent=False)
        finally:
            self._done(lease.lb_id)
        # A thread is free again, and writes may have landed while we worked:
        # looking now saves a poll interval.
        if not self.stopping.is_set():
            self.dispatch(leases.claimable_ids())


def record_failure(lease, reason, permanent):
    settings = config.CONF.controller_worker
    with db.writing() as session:
        lb = session.get(models.LoadBalancer, lease.lb_id)
        if not leases.still_mine(lb, lease):
            return
        lb.attempts = (lb.attempts or 0) + 1
        lb.last_error = reason[:2000]
        if permanent or lb.attempts >= settings.max_attempts:
            _mark_failed(lb)
        else:
            delay = settings.retry_backoff * 2 ** (lb.attempts - 1)
            lb.next_attempt_at = models.utcnow() + datetime.timedelta(seconds=delay)
        leases.release(lb, session)


def _mark_failed(lb):
    """Octavia's revert: the write's targets go to ERROR, their parents ACTIVE."""
    targets = set(lb.pending_targets or [])
    for obj in graph.descendants(lb):
        if obj.provisioning_status in lifecycle.PENDING:
            failed = obj.id in targets or obj.provisioning_status == lifecycle.PENDING_DELETE
            obj.provisioning_status = lifecycle.ERROR if failed else lifecycle.ACTIVE
    lb.provisioning_status = lifecycle.ERROR if lb.id in targets else lifecycle.ACTIVE
    lb.failover_requested = False
    LOG.error('load balancer %s: giving up after %d attempts: %s', lb.id, lb.attempts,
              lb.last_error)
