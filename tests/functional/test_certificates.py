"""Housekeeping's certificate sweep on the noop drivers, on every database.

Load balancers are made through the API (so their amphorae are ALLOCATED
rows, as the worker leaves them); the sweep then runs in-process with fakes
of its own, which record what was issued and rotated, and can be told to fail.
"""
import datetime

import pytest

from lbaas import config
from lbaas.controller import certificates
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers import base, noop

HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def drivers():
    return base.Drivers(noop.NoopCompute(), noop.NoopNetwork(), noop.NoopAmphora(),
                        noop.NoopCertificateAuthority())


@pytest.fixture
def amphora_id(lb):
    with db.reading() as session:
        rows = session.query(models.Amphora).filter_by(load_balancer_id=lb['id']).all()
    assert [r.status for r in rows] == ['ALLOCATED']
    return rows[0].id


def row(amphora_id):
    with db.reading() as session:
        return session.get(models.Amphora, amphora_id)


def set_row(amphora_id, **values):
    with db.writing() as session:
        amphora = session.get(models.Amphora, amphora_id)
        for name, value in values.items():
            setattr(amphora, name, value)


def naive(moment):
    return moment.astimezone(datetime.UTC).replace(tzinfo=None)


def test_a_new_amphora_gets_its_expiry_recorded(drivers, amphora_id):
    assert row(amphora_id).cert_expiration is None  # the build does not report it
    certificates.renew_certificates(drivers)
    recorded = row(amphora_id).cert_expiration
    assert recorded == naive(drivers.amphora.expiry[amphora_id]).replace(microsecond=0)
    assert amphora_id not in drivers.amphora.certificates  # far from due: not rotated
    assert drivers.certificates.refreshed == [config.CONF.house_keeping.cert_expiry_buffer]


@pytest.mark.parametrize('left', [HOUR, -HOUR], ids=['due', 'expired'])
def test_a_due_certificate_is_renewed_pushed_and_recorded(drivers, amphora_id, left):
    set_row(amphora_id, cert_expiration=models.utcnow() + left)
    assert certificates.renew_certificates(drivers) >= 1
    pushed = drivers.amphora.certificates[amphora_id]
    validity = config.CONF.certificates.cert_validity_time
    assert (amphora_id, validity) in drivers.certificates.issued
    after = row(amphora_id)
    assert after.cert_expiration == naive(pushed.not_after)
    assert after.cert_expiration > models.utcnow() + datetime.timedelta(days=29)
    assert after.cert_busy is False
    # Renewed once: the next sweep finds nothing due for it.
    certificates.renew_certificates(drivers)
    assert [i for i in drivers.certificates.issued if i[0] == amphora_id] == [
        (amphora_id, validity)]


def test_a_failed_rotation_is_retried_by_the_next_sweep(drivers, amphora_id):
    due = models.utcnow() + HOUR
    set_row(amphora_id, cert_expiration=due)
    drivers.amphora.faults.planned['rotate_certificate'] = base.TransientError('unreachable')
    certificates.renew_certificates(drivers)
    assert (row(amphora_id).cert_expiration, row(amphora_id).cert_busy) == (due, False)
    drivers.amphora.faults.planned.clear()
    certificates.renew_certificates(drivers)
    assert row(amphora_id).cert_expiration > due + datetime.timedelta(days=29)


def test_a_failed_issue_leaves_the_row_for_the_next_sweep(drivers, amphora_id):
    due = models.utcnow() + HOUR
    set_row(amphora_id, cert_expiration=due)
    drivers.certificates.faults.planned['issue_amphora_cert'] = RuntimeError('CA unavailable')
    drivers.certificates.faults.planned['refresh'] = RuntimeError('CA unavailable')
    certificates.renew_certificates(drivers)
    assert (row(amphora_id).cert_expiration, row(amphora_id).cert_busy) == (due, False)
    assert amphora_id not in drivers.amphora.certificates


def test_a_busy_row_is_left_alone_unless_stale(drivers, amphora_id):
    set_row(amphora_id, cert_expiration=models.utcnow() + HOUR, cert_busy=True)
    certificates.renew_certificates(drivers)
    assert amphora_id not in drivers.amphora.certificates  # another housekeeper's
    later = models.utcnow() + certificates.BUSY_STALE + datetime.timedelta(seconds=5)
    certificates.renew_certificates(drivers, now=later)  # its housekeeper died
    assert amphora_id in drivers.amphora.certificates
    assert row(amphora_id).cert_busy is False


def test_an_unreachable_amphora_is_asked_again_later(drivers, amphora_id):
    drivers.amphora.faults.planned['certificate_expiry'] = base.TransientError('unreachable')
    certificates.renew_certificates(drivers)
    assert row(amphora_id).cert_expiration is None
    drivers.amphora.faults.planned.clear()
    certificates.renew_certificates(drivers)
    assert row(amphora_id).cert_expiration is not None


def test_the_housekeeping_hook_runs_at_once_then_every_cert_interval(drivers, amphora_id):
    schedule = certificates.Schedule()
    assert certificates.sweep(drivers, schedule) is not None  # first round: at once
    assert certificates.sweep(drivers, schedule) is None  # cert_interval not over
    schedule.last_run -= config.CONF.house_keeping.cert_interval
    assert certificates.sweep(drivers, schedule) is not None
