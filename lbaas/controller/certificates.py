"""Amphora certificates that never expire under a running load balancer.

Housekeeping calls `sweep` every round; it runs `renew_certificates` every
`[house_keeping] cert_interval` seconds (and at its first round, so a
controller that was down while certificates expired repairs them at once):

1. the CA keeps the controller's own credentials ahead of expiry (client
   certificate, CA rollover: `drivers/pki.py`);
2. every ALLOCATED amphora whose row has no `cert_expiration` gets it, asked
   of its agent. This is how newly built amphorae get theirs: the build does
   not report it, the next sweep does, by design (one path for new amphorae,
   amphorae built before this existed, and rows whose value was lost);
3. every ALLOCATED amphora whose certificate expires within
   `cert_expiry_buffer` (or has expired) is renewed, one at a time: mark the
   row `cert_busy` (a compare-and-set, so two housekeepers never rotate the
   same amphora), issue, push to the agent, record the new expiry and clear
   the mark. A failure is logged, the mark cleared, and the next sweep tries
   again; a mark left by a housekeeper that died is taken over once stale.
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update

from lbaas import config
from lbaas.controller.snapshot import amphora_value
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers.base import Amphora, Drivers
from lbaas.statuses import AmphoraStatus

LOG = logging.getLogger(__name__)
# A cert_busy mark older than this belongs to a housekeeper that died mid-way
# (a rotation takes one TLS request: seconds, a minute at the very worst).
BUSY_STALE = datetime.timedelta(seconds=180)
Amp = models.Amphora


def renew_certificates(drivers: Drivers, now: datetime.datetime | None = None) -> int:
    """One certificate sweep; returns how many amphora certificates it renewed."""
    now = now or models.utcnow()
    settings = config.CONF.house_keeping
    authority = drivers.certificates
    try:
        authority.refresh(settings.cert_expiry_buffer)
    except Exception:  # the amphorae's turn must not depend on it
        LOG.exception("renewing the controller's own certificates failed")
    _record_missing(drivers)
    due_before = now + datetime.timedelta(seconds=settings.cert_expiry_buffer)
    renewed = 0
    for amphora_id in _due(due_before):
        renewed += _renew(amphora_id, drivers, now)
    if renewed:
        LOG.info('renewed %d amphora certificates', renewed)
    return renewed


def _naive_utc(moment: datetime.datetime) -> datetime.datetime:
    """How the database keeps times (lbaas.db.models.utcnow)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def _record_missing(drivers: Drivers) -> None:
    with db.reading() as session:
        rows = session.scalars(
            select(Amp).where(Amp.status == AmphoraStatus.ALLOCATED, Amp.cert_expiration.is_(None))
        )
        amphorae = [amphora_value(row) for row in rows]
    for amphora in amphorae:
        try:
            expiry = drivers.amphora.certificate_expiry(amphora)
        except Exception as exc:
            LOG.warning('amphora %s: cannot read its certificate: %s', amphora.id, exc)
            continue
        if expiry is None:
            continue  # unreachable now; the next sweep asks again
        with db.writing() as session:
            session.execute(
                update(Amp)
                .where(Amp.id == amphora.id, Amp.cert_expiration.is_(None))
                .values(cert_expiration=_naive_utc(expiry))
            )


def _due(before: datetime.datetime) -> list[str]:
    with db.reading() as session:
        return list(
            session.scalars(
                select(Amp.id)
                .where(
                    Amp.status == AmphoraStatus.ALLOCATED,
                    Amp.cert_expiration.is_not(None),
                    Amp.cert_expiration <= _naive_utc(before),
                )
                .order_by(Amp.cert_expiration)
            )
        )


def _claim(amphora_id: str, now: datetime.datetime) -> Amphora | None:
    """Mark the row cert_busy; its value, or None if it is not ours to renew."""
    stale = _naive_utc(now - BUSY_STALE)
    with db.writing() as session:
        result = session.execute(
            update(Amp)
            .where(
                Amp.id == amphora_id,
                Amp.status == AmphoraStatus.ALLOCATED,
                or_(Amp.cert_busy.is_(False), Amp.updated_at < stale),
            )
            .values(cert_busy=True)
        )
        if cast('CursorResult[Any]', result).rowcount != 1:  # an UPDATE's result
            return None
        row = session.get(Amp, amphora_id, populate_existing=True)
        return amphora_value(row) if row is not None else None


def _release(amphora_id: str, expiry: datetime.datetime | None) -> None:
    values: dict[str, object] = {'cert_busy': False}
    if expiry is not None:
        values['cert_expiration'] = _naive_utc(expiry)
    with db.writing() as session:
        session.execute(update(Amp).where(Amp.id == amphora_id).values(**values))


def _renew(amphora_id: str, drivers: Drivers, now: datetime.datetime) -> int:
    amphora = _claim(amphora_id, now)
    if amphora is None:
        return 0
    expiry = None
    try:
        cert = drivers.certificates.issue_amphora_cert(
            amphora.id, config.CONF.certificates.cert_validity_time
        )
        drivers.amphora.rotate_certificate(amphora, cert)
        expiry = cert.not_after
        LOG.info('amphora %s: certificate renewed, valid until %s', amphora.id, expiry)
    except Exception as exc:  # logged; the next sweep tries again
        LOG.warning('amphora %s: certificate renewal failed: %s', amphora.id, exc)
    finally:
        _release(amphora.id, expiry)
    return 1 if expiry is not None else 0


class Schedule:
    """When the certificate sweep is next due: at once, then every cert_interval."""

    def __init__(self) -> None:
        self.last_run: float | None = None

    def due(self, clock: float) -> bool:
        interval = config.CONF.house_keeping.cert_interval
        return self.last_run is None or clock - self.last_run >= interval


SCHEDULE = Schedule()


def sweep(drivers: Drivers, schedule: Schedule = SCHEDULE) -> int | None:
    """Housekeeping's hook: renew_certificates if due; None when it was not."""
    clock = time.monotonic()
    if not schedule.due(clock):
        return None
    renewed = renew_certificates(drivers)
    schedule.last_run = clock  # only now: a round that failed is tried again next round
    return renewed
