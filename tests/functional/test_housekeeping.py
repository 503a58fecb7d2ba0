"""Housekeeping's sweep of stalled builds, on every database.

A build that stalled (its worker gave up or died, the LB went to ERROR) is
torn down once `build_stall_age` has passed; a build a worker is still on,
or one changed recently, is left alone.
"""
import datetime

import pytest

from lbaas import config
from lbaas.controller import housekeeping
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers import base, noop

STALL = datetime.timedelta(seconds=config.CONF.house_keeping.build_stall_age)


@pytest.fixture
def drivers():
    return base.Drivers(noop.NoopCompute(), noop.NoopNetwork(), noop.NoopAmphora(),
                        noop.NoopCertificateAuthority())


def booting(lb_id, lb_status):
    """Make the LB's amphora a build in progress and give the LB `lb_status`."""
    with db.writing() as session:
        amphora = session.query(models.Amphora).filter_by(load_balancer_id=lb_id).one()
        amphora.status = 'BOOTING'
        session.get(models.LoadBalancer, lb_id).provisioning_status = lb_status
        return amphora.id, amphora.updated_at


def status_of(amphora_id):
    with db.reading() as session:
        return session.get(models.Amphora, amphora_id).status


@pytest.mark.parametrize('lb_status, later, reaped', [
    ('ERROR', STALL * 2, True),
    ('ERROR', STALL / 2, False),  # too recent
    ('PENDING_UPDATE', STALL * 2, False),  # a worker is on it
], ids=['stalled', 'recent', 'worked-on'])
def test_stalled_builds_are_torn_down(drivers, lb, lb_status, later, reaped):
    amphora_id, changed = booting(lb['id'], lb_status)
    count = housekeeping.reap_stalled_builds(drivers, now=changed + later)
    assert count >= int(reaped)  # other tests' leftovers may be stalled too
    assert (drivers.compute.compute_id_for(amphora_id) in drivers.compute.deleted) is reaped
    if reaped:
        assert status_of(amphora_id) == 'DELETED'
