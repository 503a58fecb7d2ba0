"""The worker's failure policy, on every database, with fakes told to fail.

A transient error retries with backoff; `max_attempts` failures or one
permanent error apply Octavia's revert (the write's targets ERROR, their
parents ACTIVE); a pass that lost its lease or saw new work arrive changes
nothing. The LB is held from the service's own worker throughout.
"""
import datetime

import pytest

from lbaas import config
from lbaas.controller import leases, worker
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers import base, noop
from tests.functional.conftest import build_tree, held, new_member

OWNER = 'functional-test'  # the lease `held` puts on the LB


class Hooked(noop.NoopAmphora):
    """A fake amphora that runs `during_push` as it receives a bundle."""

    def __init__(self, during_push=None):
        super().__init__()
        self.during_push = during_push

    def push(self, amphora, bundle):
        if self.during_push:
            self.during_push()
        return super().push(amphora, bundle)


@pytest.fixture
def setup(service):
    config.CONF.set_override('retry_backoff', 30, 'controller_worker')
    client = new_member(service)
    lb_id = client.create_lb()['id']
    pool = build_tree(client, lb_id, '198.18.6.1')['pool']
    yield client, lb_id, pool
    config.CONF.set_override('retry_backoff', 0.05, 'controller_worker')


def run_pass(lb_id, amphora_driver):
    drivers = base.Drivers(noop.NoopCompute(), noop.NoopNetwork(), amphora_driver)
    instance = worker.Worker(drivers=drivers, owner=OWNER)
    try:
        instance._attempt(leases.Lease(lb_id, OWNER))
    finally:
        instance.pool.shutdown()


def lb_row(lb_id):
    with db.reading() as session:
        return session.get(models.LoadBalancer, lb_id)


def add_member(client, pool, address):
    resp = client.post('pools/%s/members' % pool['id'],
                       {'member': {'address': address, 'protocol_port': 80}})
    assert resp.status_code == 201, resp.text
    return resp.json()['member']['id']


def statuses(client, lb_id, pool, member_id):
    return (client.show('loadbalancers/' + lb_id, 'loadbalancer')['provisioning_status'],
            client.show('pools/' + pool['id'], 'pool')['provisioning_status'],
            client.show('pools/%s/members/%s' % (pool['id'], member_id),
                        'member')['provisioning_status'])


def test_a_transient_error_retries_later_with_backoff(setup):
    client, lb_id, pool = setup
    with held(lb_id):
        member_id = add_member(client, pool, '198.18.6.2')
        amphora = noop.NoopAmphora()
        amphora.faults.planned['push'] = base.TransientError('agent busy')
        run_pass(lb_id, amphora)
        row = lb_row(lb_id)
        assert (row.attempts, row.lease_owner) == (1, None)
        assert 'agent busy' in row.last_error
        wait = row.next_attempt_at - models.utcnow()
        assert datetime.timedelta(seconds=25) < wait <= datetime.timedelta(seconds=30)
        assert statuses(client, lb_id, pool, member_id) == (
            'PENDING_UPDATE', 'PENDING_UPDATE', 'PENDING_CREATE')
        with db.writing() as session:  # let the service's worker finish the job
            session.get(models.LoadBalancer, lb_id).next_attempt_at = None
    client.wait_lb(lb_id)


def test_a_transient_error_may_name_its_own_delay(setup):
    client, lb_id, pool = setup
    with held(lb_id):
        add_member(client, pool, '198.18.6.3')
        amphora = noop.NoopAmphora()
        amphora.faults.planned['push'] = base.TransientError('later', delay=2)
        run_pass(lb_id, amphora)
        wait = lb_row(lb_id).next_attempt_at - models.utcnow()
        assert wait <= datetime.timedelta(seconds=2)
    client.wait_lb(lb_id)


@pytest.mark.parametrize('how', ['max_attempts', 'permanent'])
def test_giving_up_reverts_as_octavia_does(setup, how):
    client, lb_id, pool = setup
    with held(lb_id):
        member_id = add_member(client, pool, '198.18.6.4')
        amphora = noop.NoopAmphora()
        if how == 'permanent':
            amphora.faults.planned['push'] = base.PermanentError('refused')
        else:
            amphora.faults.planned['push'] = base.TransientError('still busy')
            with db.writing() as session:
                session.get(models.LoadBalancer, lb_id).attempts = \
                    config.CONF.controller_worker.max_attempts - 1
        run_pass(lb_id, amphora)
        assert statuses(client, lb_id, pool, member_id) == ('ACTIVE', 'ACTIVE', 'ERROR')
        assert lb_row(lb_id).lease_owner is None


def test_a_pass_that_lost_its_lease_changes_nothing(setup):
    client, lb_id, pool = setup
    with held(lb_id):
        member_id = add_member(client, pool, '198.18.6.5')

        def steal():
            with db.writing() as session:
                session.get(models.LoadBalancer, lb_id).lease_owner = 'someone-else'
        run_pass(lb_id, Hooked(steal))
        assert statuses(client, lb_id, pool, member_id) == (
            'PENDING_UPDATE', 'PENDING_UPDATE', 'PENDING_CREATE')
        assert lb_row(lb_id).lease_owner == 'someone-else'
    client.wait_lb(lb_id)


def test_new_work_during_a_pass_leaves_it_pending_for_the_next(setup):
    client, lb_id, pool = setup
    with held(lb_id):
        member_id = add_member(client, pool, '198.18.6.6')

        def more_work():
            later = models.utcnow() + datetime.timedelta(hours=1)
            with db.writing() as session:  # next_attempt_at: the service's worker waits
                lb = session.get(models.LoadBalancer, lb_id)
                lb.generation, lb.next_attempt_at = lb.generation + 1, later
        run_pass(lb_id, Hooked(more_work))
        assert statuses(client, lb_id, pool, member_id) == (
            'PENDING_UPDATE', 'PENDING_UPDATE', 'PENDING_CREATE')
        assert lb_row(lb_id).lease_owner is None  # free for the next pass at once
        with db.writing() as session:
            session.get(models.LoadBalancer, lb_id).next_attempt_at = None
    client.wait_lb(lb_id)
    assert statuses(client, lb_id, pool, member_id) == ('ACTIVE', 'ACTIVE', 'ACTIVE')



def test_a_worker_stopping_gives_back_a_lease_it_cannot_run(monkeypatch):
    released = []
    monkeypatch.setattr(worker.leases, 'claim', leases.Lease)
    monkeypatch.setattr(worker, 'release_own_leases',
                        lambda lb_ids, owner: released.append((lb_ids, owner)))
    instance = worker.Worker(drivers=base.Drivers(
        noop.NoopCompute(), noop.NoopNetwork(), noop.NoopAmphora()), owner=OWNER)
    instance.pool.shutdown()  # as stop() does while a pass looks for more work
    instance.dispatch(['an-lb'])
    assert released == [({'an-lb'}, OWNER)] and not instance.in_flight
