"""Writes handed to external provider drivers, as Octavia's API hands them.

An LB whose `provider` names an octavia-lib driver (see
`controller/provider_registry.py`) has its writes passed to that driver's
`ProviderDriver` methods with octavia-lib data models. As Octavia does, the
call is made inside the write's transaction, after the rows are written and
before the commit: a driver that raises rolls everything back, and its
UnsupportedOptionError or NotImplementedError becomes the 501 Octavia
answers (any other error a 500), with the driver's user fault string.

Each write reaches here through `lifecycle.touch_lb` (`dispatch`), which
knows the write's targets: a target PENDING_CREATE is a create, PENDING_UPDATE
an update, PENDING_DELETE a delete. An update passes the object as it was
when the LB was locked (`remember`, called by `lifecycle.get_lb`) and the
object as it is now with the attributes that did not change Unset, as
Octavia passes only what the request set.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from octavia_lib.api.drivers import data_models as dm
from octavia_lib.api.drivers import exceptions as lib_exceptions
from sqlalchemy.orm import Session

from lbaas import errors
from lbaas.controller import provider_models, provider_registry
from lbaas.db import models
from lbaas.statuses import Provisioning

LOG = logging.getLogger(__name__)
_BEFORE = 'lbaas.provider_before'  # session.info: object id -> data model when locked
PREFIXES: tuple[tuple[type[models.Base], str], ...] = (
    (models.LoadBalancer, 'loadbalancer'), (models.Listener, 'listener'),
    (models.Pool, 'pool'), (models.Member, 'member'),
    (models.HealthMonitor, 'health_monitor'), (models.L7Policy, 'l7policy'),
    (models.L7Rule, 'l7rule'))
ID_ATTRS = {'loadbalancer_id', 'listener_id', 'pool_id', 'member_id', 'healthmonitor_id',
            'l7policy_id', 'l7rule_id'}
OPERATIONS = {Provisioning.PENDING_CREATE: 'create', Provisioning.PENDING_UPDATE: 'update',
              Provisioning.PENDING_DELETE: 'delete'}


class ProviderNotImplemented(errors.ApiError):
    status = 501

    def __init__(self, provider: str, message: str) -> None:
        super().__init__("Provider '%s' does not support a requested action: %s"
                         % (provider, message))


class ProviderUnsupportedOption(errors.ApiError):
    status = 501

    def __init__(self, provider: str, message: str) -> None:
        super().__init__("Provider '%s' does not support a requested option: %s"
                         % (provider, message))


class ProviderDriverError(errors.ApiError):
    status = 500

    def __init__(self, provider: str, message: str) -> None:
        super().__init__("Provider '%s' reports error: %s" % (provider, message))


def call_provider(provider: str, method: Callable[..., Any], *args: Any) -> Any:
    """Octavia's driver_utils.call_provider: driver errors as API errors."""
    try:
        return method(*args)
    except lib_exceptions.DriverError as exc:
        LOG.error("Provider '%s' raised a driver error: %s", provider,
                  exc.operator_fault_string)
        raise ProviderDriverError(provider, str(exc.user_fault_string))
    except (lib_exceptions.NotImplementedError, NotImplementedError) as exc:
        message = getattr(exc, 'user_fault_string',
                          'This feature is not implemented by the provider.')
        LOG.info("Provider '%s' raised a not implemented error: %s", provider, message)
        raise ProviderNotImplemented(provider, str(message))
    except lib_exceptions.UnsupportedOptionError as exc:
        LOG.info("Provider '%s' raised an unsupported option error: %s", provider,
                 exc.operator_fault_string)
        raise ProviderUnsupportedOption(provider, str(exc.user_fault_string))
    except errors.ApiError:
        raise
    except Exception as exc:
        LOG.exception("Provider '%s' raised an unknown error: %s", provider, exc)
        raise ProviderDriverError(provider, str(exc))


def remember(session: Session, lb: models.LoadBalancer) -> None:
    """Note the LB's objects as they are now, for the update a write will pass."""
    if not provider_registry.is_external(lb.provider):
        return
    before = session.info.setdefault(_BEFORE, {})
    before[lb.id] = provider_models.loadbalancer(lb, session)
    for obj in models.descendants(lb):
        before[obj.id] = provider_models.convert(obj)  # type: ignore[attr-defined]


def _prefix(obj: models.Base) -> str:
    for model, prefix in PREFIXES:
        if isinstance(obj, model):
            return prefix
    raise TypeError('no provider call for %r' % obj)


def _changed_only(old: Any, new: Any) -> Any:
    """`new` with what equals `old`, and the nested objects, Unset."""
    for name, value in list(vars(new).items()):
        nested = isinstance(value, dm.BaseDataModel) or (
            isinstance(value, list) and any(isinstance(v, dm.BaseDataModel) for v in value))
        if name not in ID_ATTRS and (nested or (old is not None
                                                and getattr(old, name, None) == value)):
            setattr(new, name, dm.Unset)
    return new


def _parent_created(obj: models.Base, created: set[str]) -> bool:
    """A rule made with its policy (or any child with its parent) goes with it."""
    parent = getattr(obj, 'l7policy', None) or getattr(obj, 'listener', None) \
        or getattr(obj, 'pool', None)
    return parent is not None and parent.id in created


def _call(session: Session, name: str, driver: Any, obj: Any, cascade: bool) -> None:
    operation = OPERATIONS[obj.provisioning_status]
    method = getattr(driver, '%s_%s' % (_prefix(obj), operation))
    model = provider_models.convert(obj, session)
    LOG.info('Sending %s %s %s to provider %s', operation, _prefix(obj), obj.id, name)
    if operation == 'update':
        old = session.info.get(_BEFORE, {}).get(obj.id)
        call_provider(name, method, old if old is not None else model,
                      _changed_only(old, provider_models.convert(obj, session)))
    elif operation == 'delete' and isinstance(obj, models.LoadBalancer):
        call_provider(name, method, model, cascade)
    else:
        call_provider(name, method, model)


def dispatch(session: Session, lb: models.LoadBalancer, targets: Sequence[object], *,
             cascade: bool = False, batch_pool: models.Pool | None = None,
             failover: bool = False) -> None:
    """Hand a write to the LB's provider, inside the write's transaction."""
    name = lb.provider
    if name is None or not provider_registry.is_external(name):
        return
    session.flush()
    driver = provider_registry.driver(name)
    if failover:
        call_provider(name, driver.loadbalancer_failover, lb.id)
    elif batch_pool is not None:
        members = [provider_models.member(m) for m in batch_pool.members
                   if m.provisioning_status != Provisioning.PENDING_DELETE]
        LOG.info('Sending batch member update of pool %s to provider %s', batch_pool.id, name)
        call_provider(name, driver.member_batch_update, batch_pool.id, members)
    else:
        created = {t.id for t in targets  # type: ignore[attr-defined]
                   if t.provisioning_status == Provisioning.PENDING_CREATE}  # type: ignore[attr-defined]
        for target in targets:
            if isinstance(target, models.Base) and not _parent_created(target, created):
                _call(session, name, driver, target, cascade)
