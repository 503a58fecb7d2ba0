"""The ComputeDriver contract: NoopCompute (fake), NetnsCompute (real) and
NovaCompute (nova, against the fake OpenStack API of tests/fakes/).

What the reconcile loop relies on (lbaas/controller/reconcile.py): build()
returns compute_id_for(amphora_id), so a crashed build can be deleted before
its id was recorded; build() is idempotent; status() says ACTIVE once built
and DELETED once deleted (then `_needs_build` builds the same amphora id
again); delete() of something missing does nothing; runtime_dir() is where
rendered configurations point, absolute and one per amphora.
"""

import os
import time
import types
import uuid

import pytest

from lbaas.drivers import base, noop
from lbaas.drivers.compute.nova import NovaCompute
from lbaas.drivers.netns import NetnsCompute
from tests.contract.conftest import Impl, assert_conforms, poll, timed
from tests.fakes.openstack_env import OpenStackEnv

LB_ID = str(uuid.uuid4())
STATUS_TIMEOUT = 10.0
STATUSES = {'ACTIVE', 'BUILDING', 'ERROR', 'DELETED'}
# Agent starts watched for a wrong status: the race opens within ~10 ms of build()
# returning; a close watch sees it in 1 start of 5 to 1 of 2, by load (measured),
# so ten starts would find it in 9 runs of 10 or more.
STARTS_TO_WATCH, WATCH = 10, 0.05


@pytest.fixture(scope='module', params=['fake', 'real', 'nova'])
def impl(request):
    if request.param == 'nova':
        env = OpenStackEnv()
        request.addfinalizer(env.close)
        extra = {'inventory': env.inventory, 'explain': lambda amphora_id: ''}
        return Impl('nova', env.compute(), caps={}, extra=extra)
    if request.param == 'fake':
        driver = noop.NoopCompute()
        return Impl(
            'fake',
            driver,
            caps={},
            extra={'inventory': lambda: dict(driver.built), 'explain': lambda amphora_id: ''},
        )
    env = request.getfixturevalue('real_env')
    return Impl(
        'real',
        env.compute,
        caps={},
        extra={'inventory': env.inventory, 'explain': env.agent_console},
    )


def build(impl, amphora_id):
    started = time.monotonic()
    compute_id = impl.driver.build(amphora_id, LB_ID)
    if impl.name == 'real':
        timed('build call', started)
    return compute_id


def wait_built(impl, compute_id):
    """Statuses seen from right after build() until ACTIVE (or the timeout).

    Only where it settles is checked here; that nothing but BUILDING comes
    before ACTIVE is test_status_never_says_error_while_the_agent_starts.
    """
    started = time.monotonic()
    seen = poll(lambda: impl.driver.status(compute_id), lambda s: s == 'ACTIVE', STATUS_TIMEOUT)
    if impl.name == 'real':
        timed('build to ACTIVE', started)
    return seen


def assert_came_up(impl, amphora_id, statuses):
    assert statuses[-1] == 'ACTIVE', 'statuses after build: %s%s' % (
        statuses,
        impl.explain(amphora_id),
    )


@pytest.fixture
def amphora_ids(impl):
    """New amphora ids; whatever a test built with them is deleted afterwards."""
    made = []

    def new():
        made.append(str(uuid.uuid4()))
        return made[-1]

    yield new
    for amphora_id in made:
        impl.driver.delete(impl.driver.compute_id_for(amphora_id))


@pytest.fixture(scope='module')
def built(impl):
    """One amphora per module and driver, with the statuses seen while it came up."""
    amphora_id = str(uuid.uuid4())
    try:
        compute_id = build(impl, amphora_id)
        statuses = wait_built(impl, compute_id)
        yield types.SimpleNamespace(amphora_id=amphora_id, compute_id=compute_id, statuses=statuses)
    finally:
        impl.driver.delete(impl.driver.compute_id_for(amphora_id))


# -- the contract ---------------------------------------------------------------------


@pytest.mark.parametrize(
    'cls', [noop.NoopCompute, NetnsCompute, NovaCompute], ids=['fake', 'real', 'nova']
)
def test_conforms_to_the_protocol(cls):
    assert_conforms(cls, base.ComputeDriver)


def test_compute_id_for_is_known_before_build(impl):
    amphora_id, other = str(uuid.uuid4()), str(uuid.uuid4())
    compute_id = impl.driver.compute_id_for(amphora_id)
    assert isinstance(compute_id, str) and compute_id
    assert impl.driver.compute_id_for(amphora_id) == compute_id
    assert impl.driver.compute_id_for(other) != compute_id


def test_build_returns_compute_id_for(impl, built):
    assert built.compute_id == impl.driver.compute_id_for(built.amphora_id)


def test_status_is_active_after_build(impl, built):
    assert_came_up(impl, built.amphora_id, built.statuses)
    assert impl.driver.status(built.compute_id) == 'ACTIVE'


def test_status_never_says_error_while_the_agent_starts(request, impl, amphora_ids):
    # `_needs_build` deletes and rebuilds whatever says ERROR: only BUILDING
    # may come before ACTIVE. Watched closely over a few agent starts.
    amphora_id = amphora_ids()
    compute_id = impl.driver.compute_id_for(amphora_id)
    wrong = []
    for _ in range(STARTS_TO_WATCH):
        build(impl, amphora_id)
        deadline = time.monotonic() + WATCH
        statuses = [impl.driver.status(compute_id)]
        while time.monotonic() < deadline or statuses[-1] == 'BUILDING':
            statuses.append(impl.driver.status(compute_id))
            if time.monotonic() > deadline + STATUS_TIMEOUT:
                break
        settled = statuses[: statuses.index('ACTIVE')] if 'ACTIVE' in statuses else statuses
        if set(settled) - {'BUILDING'} or set(statuses[len(settled) :]) != {'ACTIVE'}:
            wrong.append([s for i, s in enumerate(statuses) if i == 0 or s != statuses[i - 1]])
        impl.driver.delete(compute_id)
    assert not wrong, 'status sequences with more than BUILDING, then ACTIVE: %s' % wrong


def test_build_is_idempotent(impl, built):
    before = impl.inventory()
    assert build(impl, built.amphora_id) == built.compute_id
    assert impl.inventory() == before  # no second amphora, no second agent
    assert impl.driver.status(built.compute_id) == 'ACTIVE'


def test_status_is_deleted_after_delete(request, impl, amphora_ids):
    before = impl.inventory()
    amphora_id = amphora_ids()
    compute_id = build(impl, amphora_id)
    assert_came_up(impl, amphora_id, wait_built(impl, compute_id))
    started = time.monotonic()
    impl.driver.delete(compute_id)
    if impl.name == 'real':
        timed('delete', started)
    assert impl.inventory() == before
    assert impl.driver.status(compute_id) == 'DELETED'


def test_a_deleted_amphora_can_be_built_again(impl, amphora_ids):
    # `_needs_build`: an ERROR or DELETED compute is deleted, then the same
    # amphora id is built again.
    amphora_id = amphora_ids()
    compute_id = build(impl, amphora_id)
    assert_came_up(impl, amphora_id, wait_built(impl, compute_id))
    impl.driver.delete(compute_id)
    assert build(impl, amphora_id) == compute_id
    assert_came_up(impl, amphora_id, wait_built(impl, compute_id))


def test_delete_of_a_missing_amphora_does_not_raise(impl):
    compute_id = impl.driver.compute_id_for(str(uuid.uuid4()))
    impl.driver.delete(compute_id)
    impl.driver.delete(compute_id)
    assert impl.driver.status(compute_id) in STATUSES


def test_runtime_dir_is_absolute_and_unique_per_amphora(impl):
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    path = impl.driver.runtime_dir(first)
    assert isinstance(path, str) and os.path.isabs(path)
    assert os.path.normpath(path) == path  # rendered into configs as is
    assert impl.driver.runtime_dir(first) == path
    other = impl.driver.runtime_dir(second)
    assert other != path
    # Neither inside the other: one amphora's files never land in another's.
    assert not other.startswith(path + '/') and not path.startswith(other + '/')


# -- the fake's fault injection ------------------------------------------------------------


@pytest.mark.parametrize(
    'error',
    [base.TransientError('compute busy', delay=1.5), base.PermanentError('quota exceeded')],
    ids=['transient', 'permanent'],
)
def test_fake_build_raises_a_planned_fault(error):
    driver = noop.NoopCompute()
    driver.faults.planned['build'] = error
    with pytest.raises(type(error)) as raised:
        driver.build('a1', LB_ID)
    assert raised.value is error
    assert driver.built == {}  # nothing made
    del driver.faults.planned['build']
    assert driver.build('a1', LB_ID) == driver.compute_id_for('a1')


def test_fake_delete_raises_a_planned_fault():
    driver = noop.NoopCompute()
    compute_id = driver.build('a1', LB_ID)
    error = base.TransientError('processes survived SIGKILL')
    driver.faults.planned['delete'] = error
    with pytest.raises(base.TransientError) as raised:
        driver.delete(compute_id)
    assert raised.value is error
    assert compute_id in driver.built  # still there
    driver.faults.planned.clear()
    driver.delete(compute_id)
    assert driver.built == {}
