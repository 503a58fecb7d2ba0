"""Database outages: the API answers 503, the loops wait and go on."""
import logging
import threading

import falcon
import falcon.testing
import pytest
from sqlalchemy import exc as sa_exc

from lbaas import config
from lbaas.api import errors
from lbaas.controller import health, housekeeping, leases, worker
from lbaas.db import outage as db_outage


def refused():
    return sa_exc.OperationalError('SELECT 1', {}, Exception('Connection refused'))


@pytest.fixture(autouse=True)
def conf():
    config.load([], [])
    yield config.CONF
    config.CONF.reset()


def warnings(caplog, text):
    return [r for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


@pytest.mark.parametrize('exc, expected', [
    (refused(), True),
    (sa_exc.InterfaceError('SELECT 1', {}, Exception('closed')), True),
    (sa_exc.DisconnectionError('gone'), True),
    (sa_exc.TimeoutError('pool exhausted'), True),
    (sa_exc.ProgrammingError('SELECT 1', {}, Exception('syntax'), connection_invalidated=True),
     True),
    (sa_exc.ProgrammingError('SELECT 1', {}, Exception('syntax')), False),
    (sa_exc.IntegrityError('INSERT', {}, Exception('duplicate')), False),
    (ValueError('no'), False),
])
def test_what_counts_as_the_database_being_away(exc, expected):
    assert db_outage.database_unavailable(exc) is expected


def test_an_outage_warns_once_and_backs_off(caplog):
    outage = db_outage.Outage('loop', first=0.25, longest=2.0)
    pauses = [outage.failed(refused(), 9.0) for _ in range(6)]
    assert pauses == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert outage.active
    assert len(warnings(caplog, 'loop: database unavailable')) == 1
    assert outage.ended() is True
    assert outage.ended() is False
    assert len(warnings(caplog, 'loop: database back')) == 1
    assert outage.failed(refused(), 9.0) == 0.25  # a new outage starts over


def test_other_errors_are_logged_each_time_at_the_usual_pace(caplog):
    outage = db_outage.Outage('loop')
    assert outage.failed(ValueError('bug'), 7.0) == 7.0
    assert outage.failed(ValueError('bug'), 7.0) == 7.0
    assert not outage.active
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 2


def make_worker(monkeypatch, claimable):
    """A worker on no database: `claimable()` stands for leases.claimable_ids."""
    monkeypatch.setattr(leases, 'release_dead_local_owners', lambda: None)
    monkeypatch.setattr(leases, 'claimable_ids', claimable)
    released = []
    monkeypatch.setattr(worker, 'release_own_leases',
                        lambda ids, owner: released.append(set(ids)))
    instance = worker.Worker(drivers=object(), owner='host:1')
    return instance, released


def test_the_poll_waits_out_an_outage(monkeypatch, caplog):
    def claimable():
        raise refused()
    instance, _ = make_worker(monkeypatch, claimable)
    assert instance.poll_once(0.5) == 0.25
    assert instance.poll_once(0.5) == 0.5
    assert instance.outage.active
    monkeypatch.setattr(leases, 'claimable_ids', lambda: [])
    assert instance.poll_once(0.5) == 0.5
    assert not instance.outage.active
    assert len(warnings(caplog, 'database unavailable')) == 1


def test_a_pass_that_loses_the_database_strands_its_lease_until_it_is_back(monkeypatch):
    instance, released = make_worker(monkeypatch, lambda: [])

    def lost(*args):
        raise refused()
    monkeypatch.setattr(worker.reconcile, 'reconcile', lost)
    monkeypatch.setattr(worker, 'record_failure', lost)
    instance.in_flight.add('lb-1')
    instance.run_one(leases.Lease('lb-1', instance.owner))  # raises nothing
    assert instance.in_flight == set() and instance.stranded == {'lb-1'}
    claimed = []
    monkeypatch.setattr(leases, 'claim', lambda lb_id, owner: claimed.append(lb_id))
    instance.dispatch(['lb-1'])
    assert claimed == []  # no pass on a lease that may still be ours
    assert instance.poll_once(0.5) == 0.5
    assert released == [{'lb-1'}] and instance.stranded == set()
    instance.pool.shutdown()


def test_a_claim_that_fails_is_stranded_not_left_in_flight(monkeypatch):
    instance, _ = make_worker(monkeypatch, lambda: ['lb-2'])

    def claim(lb_id, owner):
        raise refused()
    monkeypatch.setattr(leases, 'claim', claim)
    assert instance.poll_once(0.5) == 0.25
    assert instance.in_flight == set() and instance.stranded == {'lb-2'}
    instance.pool.shutdown()


def test_the_worker_loop_never_exits_on_database_errors(monkeypatch, caplog):
    calls = []

    def claimable():
        calls.append(1)
        if len(calls) < 5:
            raise refused()
        instance.stop()
        return []
    instance, _ = make_worker(monkeypatch, claimable)

    class Listener:
        def wait(self, timeout):
            return []

        def close(self):
            pass
    thread = threading.Thread(target=instance.run, args=(Listener(),))
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and len(calls) == 5
    # This worker's own warnings: logging is process-wide, and a worker an
    # earlier test left running may report an outage of its own meanwhile.
    assert len(warnings(caplog, 'worker host:1: database unavailable')) == 1


def test_housekeeping_retries_soon_while_the_database_is_away(monkeypatch, caplog):
    outage = db_outage.Outage('housekeeping')

    def purge():
        raise refused()
    monkeypatch.setattr(housekeeping, 'purge_deleted', purge)
    assert housekeeping.sweep(object(), outage, 30) == 0.25
    assert housekeeping.sweep(object(), outage, 30) == 0.5
    monkeypatch.setattr(housekeeping, 'purge_deleted', lambda: (0, 0))
    monkeypatch.setattr(housekeeping, 'reap_amphorae', lambda drivers: 0)
    monkeypatch.setattr(housekeeping, 'reap_stalled_builds', lambda drivers: 0)
    monkeypatch.setattr(housekeeping, 'sweep_host', lambda drivers: (0, 0))
    assert housekeeping.sweep(object(), outage, 30) == 30
    assert len(warnings(caplog, 'housekeeping: database unavailable')) == 1


def test_the_health_manager_survives_an_outage(monkeypatch, caplog):
    config.CONF.set_override('heartbeat_timeout', 0.1, 'health_manager')
    manager = health.HealthManager(sock=object(), key=b'k')
    rounds = []

    def flush(batch):
        rounds.append(batch)
        if len(rounds) < 4:
            raise refused()
    monkeypatch.setattr(manager.store, 'flush', flush)
    beat = {'amp-1': object()}
    manager.inbox.pending.update(beat)
    pauses = [manager.flush_once() for _ in range(4)]
    assert pauses == [0.25, 0.5, 1.0, 0.025]
    assert rounds == [beat] * 4  # the reports wait for the database, not lost
    assert len(warnings(caplog, 'health manager: database unavailable')) == 1
    assert len(warnings(caplog, 'health manager: database back')) == 1
    # No look for silent amphorae until heartbeat_timeout after it came back.
    monkeypatch.setattr(manager.stale, 'run_once', lambda: rounds.append('check'))
    manager.check_once()
    assert rounds[-1] != 'check'
    manager.quiet_until = 0
    manager.check_once()
    assert rounds[-1] == 'check'


class Raising:
    def __init__(self, exc):
        self.exc = exc

    def on_get(self, req, resp):
        raise self.exc


def answer(exc):
    """What the real app answers when a handler raises `exc`."""
    from lbaas.api import app
    application = app.create_app()
    application.add_route('/x', Raising(exc))
    return falcon.testing.TestClient(application).simulate_get(
        '/x', headers={'X-Project-Id': 'p', 'X-Roles': 'member'})


@pytest.mark.parametrize('exc', [
    refused(), sa_exc.InterfaceError('SELECT 1', {}, Exception('closed')),
    sa_exc.DisconnectionError('gone'), sa_exc.TimeoutError('pool exhausted'),
    sa_exc.ProgrammingError('SELECT 1', {}, Exception('odd')),
])
def test_database_failures_answer_503_with_retry_after(exc):
    result = answer(exc)
    assert result.status_code == 503
    assert result.headers['Retry-After'] == str(errors.RETRY_AFTER)
    assert result.json == {'faultcode': 'Server', 'faultstring': errors.UNAVAILABLE,
                           'debuginfo': None}


def test_conflicts_and_bad_values_keep_their_answers():
    assert answer(sa_exc.IntegrityError('INSERT', {}, Exception('dup'))).status_code == 409
    assert answer(sa_exc.DataError('SELECT', {}, Exception('bad'))).status_code == 400
