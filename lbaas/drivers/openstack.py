"""What the OpenStack drivers share: the openstacksdk connection, server
lookup by name, and the translation of API failures into the seams' errors.

The connection is openstacksdk's over keystoneauth1's session from the
`[service_auth]` options (the one `cert_manager = barbican` uses), with the
region and interface of each service from `[nova]` (compute, image) and
`[neutron]` (network), as Octavia reads them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from keystoneauth1 import exceptions as ks_errors
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session
from openstack import connection as os_connection
from openstack import exceptions as os_errors

from lbaas import config
from lbaas.drivers.base import PermanentError, TransientError

LOG = logging.getLogger(__name__)
SERVER_PREFIX = 'amphora-'  # Octavia's server name: amphora-<amphora id>
GONE_STATUSES = frozenset({'DELETED', 'SOFT_DELETED'})
RETRYABLE_CODES = frozenset({408, 409, 429})
TRANSIENT_DELAY = 2.0

Connection = os_connection.Connection
NotFound = os_errors.NotFoundException
Conflict = os_errors.ConflictException


def service_session() -> ks_session.Session:
    """keystoneauth1's session from the `[service_auth]` options."""
    auth = ks_loading.load_auth_from_conf_options(config.CONF, config.SERVICE_AUTH)
    session: ks_session.Session = ks_loading.load_session_from_conf_options(
        config.CONF, config.SERVICE_AUTH, auth=auth
    )
    return session


def _interface(endpoint_type: str) -> str:
    """Octavia's `publicURL` spelling -> keystoneauth's `public`."""
    return endpoint_type[: -len('URL')] if endpoint_type.endswith('URL') else endpoint_type


def connect(session: ks_session.Session | None = None) -> Connection:
    """One openstacksdk connection for compute, image and network."""
    nova, neutron = config.CONF.nova, config.CONF.neutron
    options: dict[str, Any] = {
        'compute_interface': _interface(nova.endpoint_type),
        'image_interface': _interface(nova.endpoint_type),
        'network_interface': _interface(neutron.endpoint_type),
    }
    for service, region in (
        ('compute', nova.region_name),
        ('image', nova.region_name),
        ('network', neutron.region_name),
    ):
        if region:
            options['%s_region_name' % service] = region
    return Connection(
        session=session if session is not None else service_session(),
        app_name='lbaas',
        **options,
    )


def server_name(amphora_id: str) -> str:
    """The compute id of an amphora: its server's name, known before the server is."""
    return SERVER_PREFIX + amphora_id


def is_live(server: Any) -> bool:
    """Not deleted, nor on its way out (Nova's task_state `deleting`)."""
    return server.status not in GONE_STATUSES and server.task_state != 'deleting'


def servers_named(conn: Connection, name: str) -> list[Any]:
    """Every server with exactly this name, oldest first; deleted ones too."""
    with translated('list servers named %s' % name):
        # Nova's name filter is a regular expression: anchored, then checked.
        found = [s for s in conn.compute.servers(details=True, name='^%s$' % name)]
    return sorted((s for s in found if s.name == name), key=lambda s: s.created_at or '')


def find_server(conn: Connection, name: str) -> Any | None:
    """The live server of this name (the oldest, should there be several)."""
    live = [s for s in servers_named(conn, name) if is_live(s)]
    return live[0] if live else None


@contextlib.contextmanager
def translated(action: str) -> Iterator[None]:
    """API failures as the seams' errors: retryable ones Transient, the rest
    Permanent. NotFound passes through for the caller to decide."""
    try:
        yield
    except NotFound:
        raise
    except os_errors.HttpException as exc:
        code = exc.status_code or 0
        if code >= 500 or code in RETRYABLE_CODES:
            raise TransientError('%s: %s' % (action, _reason(exc)), TRANSIENT_DELAY) from exc
        raise PermanentError('%s: %s' % (action, _reason(exc))) from exc
    except (ks_errors.ConnectionError, ks_errors.RetriableConnectionFailure) as exc:
        raise TransientError('%s: %s' % (action, exc), TRANSIENT_DELAY) from exc
    except (ks_errors.ClientException, os_errors.SDKException) as exc:
        raise TransientError('%s: %s' % (action, exc), TRANSIENT_DELAY) from exc


def _reason(exc: os_errors.HttpException) -> str:
    details = exc.details or exc.message or ''
    return '%s %s' % (exc.status_code, details)
