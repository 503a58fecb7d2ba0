"""The driver agent: what octavia-lib's `DriverLibrary` talks to.

Three UNIX stream sockets, named by Octavia's `[driver_agent]` options
(`status_socket_path`, `stats_socket_path`, `get_socket_path`), each speaking
Octavia's protocol: the payload's length in ASCII and a newline, then the
JSON payload; the answer comes back framed the same way. As Octavia's
`driver_updater`:

- a status update (`update_loadbalancer_status`) applies each object's
  provisioning and operating status, members first and load balancers last;
  an object reported DELETED is removed (a load balancer stays, DELETED,
  its VIP released and its children gone, as the worker's delete leaves it);
- a statistics update replaces each listener's counters (the listener's id
  stands in for the amphora's, as Octavia does for non-amphora providers);
- a look-up answers the object as its provider data model, or `{}`.

Every change takes the LB row's lock first, as API writes and the worker's
settle do, so a callback and a write on the same LB never interleave.
`lbaas serve` runs the agent on threads of its own process (`start`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas import config
from lbaas.controller import provider_models
from lbaas.db import models
from lbaas.db import session as db
from lbaas.statuses import Operating, Provisioning

LOG = logging.getLogger(__name__)
OK, FAILED = 200, 500  # octavia-lib's DRVR_STATUS_CODE_OK / _FAILED
# Octavia's order: children before parents, load balancers last.
STATUS_ORDER = (
    'members',
    'healthmonitors',
    'pools',
    'l7rules',
    'l7policies',
    'listeners',
    'loadbalancers',
)
STAT_FIELDS = ('bytes_in', 'bytes_out', 'active_connections', 'total_connections', 'request_errors')
Handler = Callable[[Any], dict[str, Any]]


class StatusError(Exception):
    def __init__(self, message: str, kind: str | None = None, obj_id: str | None = None) -> None:
        super().__init__(message)
        self.kind, self.obj_id = kind, obj_id


def _lock_lb(session: Session, lb: models.LoadBalancer, locked: set[str]) -> None:
    if lb.id not in locked:
        session.execute(
            select(models.LoadBalancer.id).where(models.LoadBalancer.id == lb.id).with_for_update()
        )
        locked.add(lb.id)
        session.refresh(lb)


def _delete(session: Session, obj: models.Base) -> None:
    if isinstance(obj, models.LoadBalancer):
        for child in list(models.descendants(obj)):
            session.delete(child)
        obj.vip = None  # type: ignore[assignment]  # frees the address, as finish_delete
        obj.additional_vips = []
        obj.provisioning_status = Provisioning.DELETED
        obj.operating_status = Operating.OFFLINE
        return
    if isinstance(obj, models.Pool):
        for listener in obj.default_listeners:
            listener.default_pool = None
    if isinstance(obj, models.L7Policy):
        staying = [p for p in obj.listener.l7policies if p is not obj]
        for number, policy in enumerate(staying, start=1):
            policy.position = number
    session.delete(obj)
    session.flush()
    session.expire_all()  # parents' collections no longer hold it


def _apply(session: Session, kind: str, record: dict[str, Any], locked: set[str]) -> None:
    model = provider_models.KINDS[kind][0]
    obj_id = record.get('id')
    prov, oper = record.get('provisioning_status'), record.get('operating_status')
    if prov is not None and prov not in Provisioning.__members__:
        raise StatusError('invalid provisioning_status %r' % prov, kind, obj_id)
    if oper is not None and oper not in Operating.__members__:
        raise StatusError('invalid operating_status %r' % oper, kind, obj_id)
    obj: Any = session.get(model, obj_id) if obj_id else None
    if obj is None or (
        isinstance(obj, models.LoadBalancer) and obj.provisioning_status == Provisioning.DELETED
    ):
        if prov == Provisioning.DELETED:
            return  # already gone: Octavia ignores the update
        raise StatusError('%s %s not found' % (kind, obj_id), kind, obj_id)
    _lock_lb(session, provider_models.lb_of(obj), locked)
    session.refresh(obj)
    if prov == Provisioning.DELETED:
        _delete(session, obj)
        return
    if prov:
        obj.provisioning_status = prov
    if oper:
        obj.operating_status = oper


def update_status(status: dict[str, Any]) -> dict[str, Any]:
    """Octavia's DriverUpdater.update_loadbalancer_status, in one transaction."""
    try:
        with db.writing() as session:
            locked: set[str] = set()
            for kind in STATUS_ORDER:
                for record in status.get(kind) or []:
                    _apply(session, kind, record, locked)
    except StatusError as exc:
        return {
            'status_code': FAILED,
            'fault_string': str(exc),
            'status_object': exc.kind,
            'status_object_id': exc.obj_id,
        }
    except Exception as exc:
        LOG.warning('provider status update failed: %s', exc)
        return {'status_code': FAILED, 'fault_string': str(exc)}
    return {'status_code': OK}


def update_statistics(statistics: dict[str, Any]) -> dict[str, Any]:
    """Octavia's update_listener_statistics: each listener's counters replaced."""
    listener_id = None
    try:
        with db.writing() as session:
            for stat in statistics.get('listeners') or []:
                listener_id = stat['id']
                values = {k: int(stat.get(k) or 0) for k in STAT_FIELDS}
                session.merge(
                    models.ListenerStatistics(
                        listener_id=listener_id, amphora_id=listener_id, **values
                    )
                )
    except Exception as exc:
        answer = {'status_code': FAILED, 'fault_string': str(exc), 'stats_object': 'listeners'}
        if listener_id:
            answer['stats_object_id'] = listener_id
        return answer
    return {'status_code': OK}


def get(request: dict[str, Any]) -> dict[str, Any]:
    """Octavia's driver_get.process_get: the object as a provider dict, or {}."""
    kind = request.get('object')
    if kind not in provider_models.KINDS or not request.get('id'):
        return {}
    with db.reading() as session:
        obj: Any = session.get(provider_models.KINDS[kind][0], request['id'])
        if obj is None or (
            isinstance(obj, models.LoadBalancer) and obj.provisioning_status == Provisioning.DELETED
        ):
            return {}
        answer: dict[str, Any] = provider_models.convert(obj, session).to_dict(
            recurse=True, render_unsets=True
        )
        return answer


def _recv(sock: socket.socket) -> Any:
    size = b''
    while (char := sock.recv(1)) != b'\n':
        if not char:
            raise ConnectionError('the client closed the connection')
        size += char
    length = int(size)
    buffer = bytearray()
    while len(buffer) < length:
        chunk = sock.recv(length - len(buffer))
        if not chunk:
            raise ConnectionError('the client closed the connection')
        buffer += chunk
    return json.loads(buffer)


def _send(sock: socket.socket, answer: dict[str, Any]) -> None:
    data = json.dumps(answer, default=str).encode()
    sock.sendall(b'%d\n' % len(data) + data)


def _handler_class(handle: Handler, timeout: float) -> type[socketserver.BaseRequestHandler]:
    class RequestHandler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(timeout)
            try:
                payload = _recv(self.request)
            except (OSError, ValueError) as exc:
                LOG.warning('driver agent: unreadable request: %s', exc)
                return
            _send(self.request, handle(payload))

    return RequestHandler


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class Agent:
    """The three listeners, each on a thread; `stop()` removes the sockets."""

    def __init__(self) -> None:
        options = config.CONF.driver_agent
        self.servers: list[_Server] = []
        for path, handle, timeout in (
            (options.status_socket_path, update_status, options.status_request_timeout),
            (options.stats_socket_path, update_statistics, options.stats_request_timeout),
            (options.get_socket_path, get, options.get_request_timeout),
        ):
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            if os.path.exists(path):
                os.unlink(path)  # left by an agent that died
            server = _Server(path, _handler_class(handle, timeout))
            self.servers.append(server)
            threading.Thread(
                target=server.serve_forever,
                kwargs={'poll_interval': 0.2},
                name='driver-agent',
                daemon=True,
            ).start()
        LOG.info(
            'driver agent listening on %s', ', '.join(str(s.server_address) for s in self.servers)
        )

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
            try:
                os.unlink(str(server.server_address))
            except OSError:
                pass


def start() -> Agent:
    return Agent()
