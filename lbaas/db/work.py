"""The unit of work: one write transaction that knows which LBs it gave work to.

Every writer that gives a load balancer work (the API, the admin handlers,
housekeeping, the health manager) opens its transaction with `writing()`
and marks the LB with `give_work()`; once the transaction has committed, the
unit hands the LB ids to its notifier (by default `wakeup.notify`: UDP, or
the message broker when `transport_url` is set). Nothing is sent for a
transaction that rolled back.

A transaction that loses a deadlock or a serialization check can only be
retried whole: `run(fn)` runs `fn(session)` in a unit of work and retries it
(`db.retried`); `retried` decorates a function (an API responder, say) that
opens its own unit of work.

It sits below the controller, not in service/, because housekeeping (a
controller process) gives work too; see docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from sqlalchemy.orm import Session

from lbaas import wakeup
from lbaas.db import models
from lbaas.db import session as db
from lbaas.statuses import Provisioning

Notifier = Callable[[Sequence[str]], None]
T = TypeVar('T')
retried = db.retried
_KEY = 'lbaas.work'  # where a unit keeps its LB ids on its session
# The request being served (set by the API's middleware); give_work records
# it on the LB, so the worker's lines for that work name it.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    'lbaas_request_id', default=None
)


class UnitOfWork:
    def __init__(self, notifier: Notifier | None = None) -> None:
        self.notifier = notifier

    @contextlib.contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction; the LBs given work are notified after it commits."""
        with db.writing() as session:
            touched: list[str] = []
            session.info[_KEY] = touched
            yield session
        if touched:
            (self.notifier or wakeup.notify)(list(dict.fromkeys(touched)))

    def run(self, fn: Callable[[Session], T]) -> T:
        """`fn(session)` in one unit of work, retried whole if it is a
        deadlock or serialization victim; the wake-ups follow the commit."""

        @db.retried
        def once() -> T:
            with self.writing() as session:
                return fn(session)

        return once()


DEFAULT = UnitOfWork()


def writing() -> contextlib.AbstractContextManager[Session]:
    return DEFAULT.writing()


def run(fn: Callable[[Session], T]) -> T:
    return DEFAULT.run(fn)


def notify_after_commit(session: Session, lb_id: str) -> None:
    """Wake a worker for `lb_id` once this unit's transaction has committed."""
    if _KEY not in session.info:
        raise RuntimeError('give work to a load balancer only inside work.writing()')
    session.info[_KEY].append(lb_id)


def give_work(
    session: Session,
    lb: models.LoadBalancer,
    targets: Sequence[object],
    status: str = Provisioning.PENDING_UPDATE,
) -> None:
    """The LB has work: its status, a new generation, the write's targets.

    Bumping the generation tells a pass already under way that what it
    serves is out of date; the targets are what goes to ERROR if the work
    fails for good (Octavia's revert).
    """
    lb.provisioning_status = status
    lb.generation = (lb.generation or 0) + 1
    lb.attempts = 0
    lb.next_attempt_at = None
    lb.last_error = None
    lb.pending_targets = [t.id for t in targets]  # type: ignore[attr-defined]
    lb.request_id = REQUEST_ID.get()
    notify_after_commit(session, lb.id)
