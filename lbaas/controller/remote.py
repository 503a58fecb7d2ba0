"""Host-local steps run on the amphora's own host.

A netns amphora is a namespace on one host, plugged into that host's
fabric: building, plugging and deleting it must run there. `HostRouter`
stands in for the compute and network drivers of a worker: a call on an
amphora of this host (or of no recorded host) runs on this host's drivers;
one on another host's amphora is an RPC call to a worker of that host
(oslo.messaging, topic `lbaas-host`, server = the host's name), which runs
it on its own drivers (`HostServer`). Agent pushes need no hand-off: the
management networks of all hosts are routed to each other, as Octavia's
lb-mgmt-net is to its controllers.

On a dead host (hosts.py) nothing is called: a removal (unplug, delete) is
skipped, as the host's own housekeeping sweeps what is left when it comes
back, its amphorae report DELETED (so a pass builds anew), and an amphora
placed there but not built yet is placed again. Without `[DEFAULT]
transport_url` there is no way to another host, and a call there is a
TransientError that says so.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select, update

from lbaas import config, wakeup
from lbaas.controller import hosts
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers.base import (
    Addressing,
    Amphora,
    ComputeDriver,
    Drivers,
    LoadBalancerNetwork,
    NetworkDriver,
    PermanentError,
    TransientError,
    Vip,
)
from lbaas.statuses import AmphoraStatus

LOG = logging.getLogger(__name__)
TOPIC = 'lbaas-host'
_REMEMBERED = 100000  # hosts of built amphorae kept in memory, then forgotten at once
_LOOK_EVERY = 1.0  # seconds between looks at the liveness of a host a call waits for


def _amphora(data: dict[str, Any]) -> Amphora:
    return Amphora(**data)


def _network(data: dict[str, Any]) -> LoadBalancerNetwork:
    vips = tuple(Vip(**vip) for vip in data['vips'])
    return LoadBalancerNetwork(id=data['id'], topology=data['topology'], vips=vips)


class HostServer:
    """The RPC endpoint a worker serves for the other hosts: each method runs
    the named step on this host's drivers; values travel as plain dicts."""

    def __init__(self, compute: ComputeDriver, network: NetworkDriver) -> None:
        self.compute, self.network = compute, network

    def build(self, ctxt: dict[str, Any], amphora_id: str, lb_id: str) -> str:
        return self.compute.build(amphora_id, lb_id)

    def compute_id_for(self, ctxt: dict[str, Any], amphora_id: str) -> str:
        return self.compute.compute_id_for(amphora_id)

    def delete(self, ctxt: dict[str, Any], compute_id: str) -> None:
        self.compute.delete(compute_id)

    def status(self, ctxt: dict[str, Any], compute_id: str) -> str:
        return self.compute.status(compute_id)

    def runtime_dir(self, ctxt: dict[str, Any], amphora_id: str) -> str:
        return self.compute.runtime_dir(amphora_id)

    def plug_amphora(
        self, ctxt: dict[str, Any], amphora: dict[str, Any], lb: dict[str, Any]
    ) -> dict[str, Any]:
        return dataclasses.asdict(self.network.plug_amphora(_amphora(amphora), _network(lb)))

    def hold_vips(self, ctxt: dict[str, Any], amphora: dict[str, Any], lb: dict[str, Any]) -> None:
        self.network.hold_vips(_amphora(amphora), _network(lb))

    def distribute(
        self, ctxt: dict[str, Any], lb: dict[str, Any], amphorae: list[dict[str, Any]]
    ) -> None:
        self.network.distribute(_network(lb), [_amphora(a) for a in amphorae])

    def unplug_amphora(self, ctxt: dict[str, Any], amphora: dict[str, Any]) -> None:
        self.network.unplug_amphora(_amphora(amphora))

    def plug_member_subnets(
        self, ctxt: dict[str, Any], amphora: dict[str, Any], subnet_ids: list[str]
    ) -> dict[str, str]:
        return self.network.plug_member_subnets(_amphora(amphora), subnet_ids)

    def release_vip(self, ctxt: dict[str, Any], lb: dict[str, Any]) -> None:
        self.network.release_vip(_network(lb))


@functools.cache
def _transport() -> Any:
    """One RPC transport per process, for the server and the router."""
    return wakeup.messaging().get_rpc_transport(config.CONF)


def serve(
    server: HostServer,
    stop: threading.Event,
    host: str | None = None,
    started: threading.Event | None = None,
) -> None:
    """Answer the other hosts' calls to `host` (this one) until `stop` (a
    worker thread; oslo.messaging connects, and reconnects after an outage,
    on its own); `started` is set once it listens."""
    host = host or hosts.local()
    messaging = wakeup.messaging()
    target = messaging.Target(topic=TOPIC, server=host)
    try:
        rpc = messaging.get_rpc_server(_transport(), target, [server])  # on threads
        rpc.start()
    except Exception:
        LOG.exception(
            'host calls: cannot listen on the message broker; other hosts '
            'cannot reach the amphorae of %s',
            host,
        )
        return
    LOG.info('host calls: serving topic %s as %s', TOPIC, host)
    if started is not None:
        started.set()
    stop.wait()
    rpc.stop()
    rpc.wait()


class HostRouter:
    """ComputeDriver and NetworkDriver: each call on the amphora's own host."""

    def __init__(self, compute: ComputeDriver, network: NetworkDriver) -> None:
        self.compute, self.network = compute, network
        self.liveness = hosts.Liveness()
        self._client: Any = None
        self._lock = threading.Lock()
        # Hosts of built amphorae, by compute id and by amphora id.
        self._host_of_compute: dict[str, str | None] = {}
        self._built_on: dict[str, str | None] = {}

    # -- where ---------------------------------------------------------------

    def _known(self, table: dict[str, str | None], key: str) -> tuple[bool, str | None]:
        """(True, the remembered host), or (False, None) if none is, or it is
        dead (then the row may say where the amphora was built again)."""
        host = table.get(key, '')
        if host == '' or (self._remote(host) and not self.liveness.alive(host or '')):
            return False, None
        return True, host

    @staticmethod
    def _keep(table: dict[str, str | None], key: str, host: str | None) -> None:
        if len(table) > _REMEMBERED:
            table.clear()
        table[key] = host

    def _host_of(self, amphora_id: str) -> str | None:
        """The amphora's host; remembered once it is built there (it stays
        while that host lives)."""
        known, host = self._known(self._built_on, amphora_id)
        if known:
            return host
        with db.reading() as session:
            row = session.execute(
                select(models.Amphora.host, models.Amphora.compute_id).where(
                    models.Amphora.id == amphora_id
                )
            ).first()
        if row is None:
            return None
        if row.compute_id:
            self._keep(self._built_on, amphora_id, row.host)
        return row.host  # type: ignore[no-any-return]  # a Row's fields are untyped

    def _host_of_compute_id(self, compute_id: str) -> str | None:
        known, host = self._known(self._host_of_compute, compute_id)
        if known:
            return host
        with db.reading() as session:
            found: str | None = session.scalar(
                select(models.Amphora.host).where(models.Amphora.compute_id == compute_id).limit(1)
            )
        return found if found is not None else self._host_of_compute.get(compute_id)

    def _remote(self, host: str | None) -> bool:
        return bool(host) and host != hosts.local()

    def _call(self, host: str, method: str, **kwargs: Any) -> Any:
        """The call on `host`'s worker, waited for while that host lives (up
        to `rpc_timeout`): a host that stopped answers nothing, and its
        queue holds the call until the timeout. oslo.messaging's call has
        no such condition, so it runs on a thread of its own, watched."""
        if not wakeup.broker_configured():
            raise TransientError(
                'the amphora is on host %s: reaching another host needs '
                '[DEFAULT] transport_url' % host
            )
        client = self._client_for(host)
        done, outcome = threading.Event(), dict[str, Any]()

        def run() -> None:
            try:
                outcome['value'] = client.call({}, method, **kwargs)
            except Exception as exc:
                outcome['error'] = exc
            finally:
                done.set()

        threading.Thread(target=run, name='host-call', daemon=True).start()
        while not done.wait(_LOOK_EVERY):
            if not self.liveness.alive(host):
                raise TransientError('host %s died during %s' % (host, method))
        if 'error' in outcome:
            raise self._mapped(host, method, outcome['error'])
        return outcome['value']

    def _client_for(self, host: str) -> Any:
        messaging = wakeup.messaging()
        with self._lock:
            if self._client is None:
                target = messaging.Target(topic=TOPIC)
                self._client = messaging.get_rpc_client(_transport(), target)
            client = self._client
        return client.prepare(server=host, timeout=config.CONF.hosts.rpc_timeout)

    @staticmethod
    def _mapped(host: str, method: str, exc: Exception) -> Exception:
        messaging = wakeup.messaging()
        if isinstance(exc, messaging.MessagingTimeout):
            return TransientError(
                'host %s did not answer %s within %.0f s'
                % (host, method, config.CONF.hosts.rpc_timeout)
            )
        if isinstance(exc, messaging.RemoteError):
            kind = PermanentError if exc.exc_type == 'PermanentError' else TransientError
            return kind('host %s: %s' % (host, exc.value))
        return exc

    def _routed(
        self, host: str | None, method: str, local: Callable[[], Any], **kwargs: Any
    ) -> Any:
        if not self._remote(host):
            return local()
        assert host is not None
        return self._call(host, method, **kwargs)

    # -- ComputeDriver -------------------------------------------------------

    def build(self, amphora_id: str, lb_id: str) -> str:
        host = self._host_of(amphora_id)
        if self._remote(host) and not self.liveness.alive(host or ''):
            host = self._place_again(amphora_id, lb_id)
        compute_id: str = self._routed(
            host,
            'build',
            lambda: self.compute.build(amphora_id, lb_id),
            amphora_id=amphora_id,
            lb_id=lb_id,
        )
        self._keep(self._host_of_compute, compute_id, host)
        self._keep(self._built_on, amphora_id, host)
        return compute_id

    def _place_again(self, amphora_id: str, lb_id: str) -> str:
        """Its host died before building it: another live host builds it."""
        with db.writing() as session:
            topology = session.scalar(
                select(models.LoadBalancer.topology).where(models.LoadBalancer.id == lb_id)
            )
            host = hosts.place(session, lb_id, topology or '')
            session.execute(
                update(models.Amphora).where(models.Amphora.id == amphora_id).values(host=host)
            )
        LOG.warning('amphora %s: its host died before the build; placed on %s', amphora_id, host)
        return host

    def compute_id_for(self, amphora_id: str) -> str:
        host = self._host_of(amphora_id)
        if self._remote(host) and not self.liveness.alive(host or ''):
            return self.compute.compute_id_for(amphora_id)
        compute_id: str = self._routed(
            host,
            'compute_id_for',
            lambda: self.compute.compute_id_for(amphora_id),
            amphora_id=amphora_id,
        )
        self._keep(self._host_of_compute, compute_id, host)
        return compute_id

    def delete(self, compute_id: str) -> None:
        host = self._host_of_compute_id(compute_id)
        if self._remote(host) and not self.liveness.alive(host or ''):
            LOG.warning('%s: host %s is dead; its housekeeping removes it', compute_id, host)
            return
        self._routed(host, 'delete', lambda: self.compute.delete(compute_id), compute_id=compute_id)

    def status(self, compute_id: str) -> str:
        host = self._host_of_compute_id(compute_id)
        if self._remote(host) and not self.liveness.alive(host or ''):
            return AmphoraStatus.DELETED
        status: str = self._routed(
            host, 'status', lambda: self.compute.status(compute_id), compute_id=compute_id
        )
        return status

    def runtime_dir(self, amphora_id: str) -> str:
        runtime_dir: str = self._routed(
            self._host_of(amphora_id),
            'runtime_dir',
            lambda: self.compute.runtime_dir(amphora_id),
            amphora_id=amphora_id,
        )
        return runtime_dir

    # -- NetworkDriver -------------------------------------------------------

    def _where(self, amphora: Amphora) -> str | None:
        """The value's host, unless that one died (the amphora may have been
        placed again since the value was read)."""
        host = amphora.host
        if host is None or (self._remote(host) and not self.liveness.alive(host)):
            return self._host_of(amphora.id)
        return host

    def plug_amphora(self, amphora: Amphora, lb: LoadBalancerNetwork) -> Addressing:
        addressing = self._routed(
            self._where(amphora),
            'plug_amphora',
            lambda: self.network.plug_amphora(amphora, lb),
            amphora=dataclasses.asdict(amphora),
            lb=dataclasses.asdict(lb),
        )
        return addressing if isinstance(addressing, Addressing) else Addressing(**addressing)

    def hold_vips(self, amphora: Amphora, lb: LoadBalancerNetwork) -> None:
        self._routed(
            self._where(amphora),
            'hold_vips',
            lambda: self.network.hold_vips(amphora, lb),
            amphora=dataclasses.asdict(amphora),
            lb=dataclasses.asdict(lb),
        )

    def distribute(self, lb: LoadBalancerNetwork, amphorae: Sequence[Amphora]) -> None:
        # An ACTIVE_ACTIVE LB's amphorae share one host (hosts.place).
        host = self._where(amphorae[0]) if amphorae else None
        self._routed(
            host,
            'distribute',
            lambda: self.network.distribute(lb, amphorae),
            lb=dataclasses.asdict(lb),
            amphorae=[dataclasses.asdict(a) for a in amphorae],
        )

    def unplug_amphora(self, amphora: Amphora) -> None:
        host = self._where(amphora)
        if self._remote(host) and not self.liveness.alive(host or ''):
            return
        self._routed(
            host,
            'unplug_amphora',
            lambda: self.network.unplug_amphora(amphora),
            amphora=dataclasses.asdict(amphora),
        )

    def member_subnet_ids(self, addresses: frozenset[str]) -> list[str]:
        return self.network.member_subnet_ids(addresses)  # the same local networks on every host

    def plug_member_subnets(self, amphora: Amphora, subnet_ids: list[str]) -> dict[str, str]:
        plugged: dict[str, str] = self._routed(
            self._where(amphora),
            'plug_member_subnets',
            lambda: self.network.plug_member_subnets(amphora, subnet_ids),
            amphora=dataclasses.asdict(amphora),
            subnet_ids=subnet_ids,
        )
        return plugged

    def release_vip(self, lb: LoadBalancerNetwork) -> None:
        self.network.release_vip(lb)


def routed(drivers: Drivers) -> Drivers:
    """`drivers` with compute and network calls run on each amphora's host."""
    router = HostRouter(drivers.compute, drivers.network)
    return dataclasses.replace(drivers, compute=router, network=router)
