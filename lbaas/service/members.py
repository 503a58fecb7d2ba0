"""Member writes: one member, or a pool's whole member list in one batch."""
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from lbaas import errors
from lbaas.db import models
from lbaas.schemas import fields
from lbaas.service import lifecycle, quotas
from lbaas.service.pools import assign, lock_pool_parent, pool_pending


def build_member(pool: models.Pool, values: dict[str, Any],
                 check_duplicate: bool = True) -> models.Member:
    """A new member of `pool`. A batch update, whose new keys are known unique,
    skips the duplicate scan: it is O(members) for each new member."""
    duplicate = check_duplicate and next(
        (m for m in pool.members if m.ip_address == values['address']
         and m.protocol_port == values['protocol_port']), None)
    if duplicate:
        raise errors.Conflict('Another member on this pool is already using ip address %s '
                              'on protocol_port %d' % (values['address'],
                                                       values['protocol_port']))
    operating = lifecycle.OFFLINE if pool.health_monitor else lifecycle.NO_MONITOR
    member = models.Member(project_id=pool.project_id,
                           **lifecycle.new_status_fields(values.get('admin_state_up', True),
                                                         operating))
    assign(member, values, fields.MEMBER)
    member.weight = 1 if member.weight is None else member.weight
    member.backup = bool(member.backup)
    pool.members.append(member)
    return member


def create_member(session: Session, pool_id: str, values: dict[str, Any]) -> models.Member:
    lb, pool = lock_pool_parent(session, pool_id)
    quotas.check(session, lb.project_id, member=1)
    member = build_member(pool, values)
    session.flush()
    pool_pending(pool)
    lifecycle.touch_lb(session, lb, [member])
    return member


def get_member(session: Session, pool_id: str, member_id: str) -> models.Member:
    member = session.get(models.Member, member_id)
    if member is None or member.pool_id != pool_id or \
            member.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('Member', member_id)
    return member


def update_member(session: Session, pool_id: str, member_id: str,
                  changes: dict[str, Any]) -> models.Member:
    lb, pool = lock_pool_parent(session, pool_id)
    member = get_member(session, pool_id, member_id)
    assign(member, changes, fields.MEMBER)
    member.provisioning_status = lifecycle.PENDING_UPDATE
    pool_pending(pool)
    lifecycle.touch_lb(session, lb, [member])
    return member


def delete_member(session: Session, pool_id: str, member_id: str) -> None:
    lb, pool = lock_pool_parent(session, pool_id)
    member = get_member(session, pool_id, member_id)
    member.provisioning_status = lifecycle.PENDING_DELETE
    pool_pending(pool)
    lifecycle.touch_lb(session, lb, [member])


def batch_update_members(session: Session, pool_id: str, wanted: Sequence[dict[str, Any]],
                         additive_only: bool) -> bool:
    """Replace the pool's members by `wanted`, matched on (address, port)."""
    lb, pool = lock_pool_parent(session, pool_id)
    keys = [(m['address'], m['protocol_port']) for m in wanted]
    if len(set(keys)) != len(keys):
        raise errors.ValidationFailure('Duplicate member address and protocol_port '
                                       'in the request.')
    current = {(m.ip_address, m.protocol_port): m for m in pool.members}
    new = [m for m in wanted if (m['address'], m['protocol_port']) not in current]
    gone = [] if additive_only else [m for k, m in current.items() if k not in set(keys)]
    quotas.check(session, lb.project_id, member=len(new) - len(gone))
    targets: list[models.Member] = []
    for values in wanted:
        existing = current.get((values['address'], values['protocol_port']))
        if existing is None:
            targets.append(build_member(pool, values, check_duplicate=False))
        elif _member_differs(existing, values):
            assign(existing, {k: v for k, v in values.items() if k != 'request_sriov'},
                   fields.MEMBER)
            existing.provisioning_status = lifecycle.PENDING_UPDATE
            targets.append(existing)
    lifecycle.mark(lifecycle.PENDING_DELETE, *gone)
    targets += gone
    if not targets:
        return False  # nothing changes: Octavia answers 202 and does nothing
    session.flush()
    pool_pending(pool)
    lifecycle.touch_lb(session, lb, targets, batch_pool=pool)
    return True


def _member_differs(member: models.Member, values: dict[str, Any]) -> bool:
    for name, value in values.items():
        if name in fields.MEMBER.written and \
                getattr(member, fields.MEMBER.attr(name)) != value:
            return True
    return 'tags' in values and member.tags != list(values['tags'] or [])


