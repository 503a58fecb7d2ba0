"""A tiny provider driver written against octavia-lib only, as a third party
would write one for Octavia: it records each call it receives and, from a
thread, reports the objects settled through octavia-lib's DriverLibrary
(the driver agent's sockets, found through Octavia's `[driver_agent]`
options as Octavia's own providers find them).

It is registered under `octavia.api.drivers` at test time (`install`), by
a `.dist-info` directory on the path, so `lbaas serve` finds it too. With
TINY_PROVIDER_LOG set, each call is also appended to that file as a JSON line.
"""
import json
import os
import tempfile
import threading
import time

from octavia_lib.api.drivers import data_models, driver_lib, exceptions, provider_base
from oslo_config import cfg

NAME = 'tiny'
CALLS = []  # (method, args as dicts), in arrival order
REFUSED_NAME = 'unsupported'
FLAVOR_METADATA = {'tiny_size': 'How tiny the load balancer is.'}
AZ_METADATA = {'tiny_zone': 'Where the tiny load balancer lives.'}
ENTRY_POINT = '%s = tests.providers.tiny_provider:TinyProviderDriver' % NAME


def install():
    """A directory holding the provider's distribution metadata: put it on
    sys.path (or PYTHONPATH) and `octavia.api.drivers` lists `tiny`."""
    root = tempfile.mkdtemp(prefix='tiny-provider-')
    info = os.path.join(root, 'tiny_provider-0.1.dist-info')
    os.mkdir(info)
    with open(os.path.join(info, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\nName: tiny-provider\nVersion: 0.1\n')
    with open(os.path.join(info, 'entry_points.txt'), 'w') as f:
        f.write('[octavia.api.drivers]\n%s\n' % ENTRY_POINT)
    return root


def _plain(value):
    if isinstance(value, data_models.BaseDataModel):
        return value.to_dict(recurse=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _library():
    options = cfg.CONF.driver_agent
    return driver_lib.DriverLibrary(status_socket=options.status_socket_path,
                                    stats_socket=options.stats_socket_path,
                                    get_socket=options.get_socket_path)


def _active(record_id, deleted=False):
    return {'id': record_id, 'provisioning_status': 'DELETED' if deleted else 'ACTIVE'}


class TinyProviderDriver(provider_base.ProviderDriver):
    def __init__(self):
        super().__init__()
        self.name = NAME

    def _record(self, method, *args):
        CALLS.append((method, [_plain(a) for a in args]))
        path = os.environ.get('TINY_PROVIDER_LOG')
        if path:
            with open(path, 'a') as f:
                f.write(json.dumps([method, [_plain(a) for a in args]], default=str) + '\n')

    def _report(self, build):
        """Settle asynchronously, as a provider does once its backend answers."""
        def run():
            time.sleep(0.05)
            library = _library()
            library.update_loadbalancer_status(build(library))
        threading.Thread(target=run, daemon=True).start()

    def _settle_under_pool(self, kind, obj_id, pool_id, deleted=False):
        def build(library):
            pool = library.get_pool(pool_id)
            status = {kind: [_active(obj_id, deleted)], 'pools': [_active(pool_id)],
                      'loadbalancers': [_active(pool.loadbalancer_id)]}
            if pool.listener_id:
                status['listeners'] = [_active(pool.listener_id)]
            return status
        self._report(build)

    # Load balancers
    def loadbalancer_create(self, loadbalancer):
        self._record('loadbalancer_create', loadbalancer)
        if loadbalancer.name == REFUSED_NAME:
            raise exceptions.UnsupportedOptionError(
                user_fault_string='tiny load balancers cannot be called that',
                operator_fault_string='refused a name')
        self._report(lambda lib: {'loadbalancers': [
            {'id': loadbalancer.loadbalancer_id, 'provisioning_status': 'ACTIVE',
             'operating_status': 'ONLINE'}]})

    def loadbalancer_update(self, old_loadbalancer, new_loadbalancer):
        self._record('loadbalancer_update', old_loadbalancer, new_loadbalancer)
        self._report(lambda lib: {'loadbalancers': [_active(old_loadbalancer.loadbalancer_id)]})

    def loadbalancer_delete(self, loadbalancer, cascade=False):
        self._record('loadbalancer_delete', loadbalancer, cascade)
        self._report(lambda lib: {'loadbalancers': [
            _active(loadbalancer.loadbalancer_id, deleted=True)]})

    # Listeners
    def listener_create(self, listener):
        self._record('listener_create', listener)
        self._report(lambda lib: {'listeners': [_active(listener.listener_id)],
                                  'loadbalancers': [_active(listener.loadbalancer_id)]})

    def listener_update(self, old_listener, new_listener):
        self._record('listener_update', old_listener, new_listener)
        self._report(lambda lib: {'listeners': [_active(old_listener.listener_id)],
                                  'loadbalancers': [_active(old_listener.loadbalancer_id)]})

    def listener_delete(self, listener):
        self._record('listener_delete', listener)
        self._report(lambda lib: {'listeners': [_active(listener.listener_id, deleted=True)],
                                  'loadbalancers': [_active(listener.loadbalancer_id)]})

    # Pools
    def pool_create(self, pool):
        self._record('pool_create', pool)
        self._settle_under_pool('pools', pool.pool_id, pool.pool_id)

    def pool_update(self, old_pool, new_pool):
        self._record('pool_update', old_pool, new_pool)
        self._settle_under_pool('pools', old_pool.pool_id, old_pool.pool_id)

    def pool_delete(self, pool):
        self._record('pool_delete', pool)
        status = {'pools': [_active(pool.pool_id, deleted=True)],
                  'loadbalancers': [_active(pool.loadbalancer_id)]}
        if pool.listener_id:
            status['listeners'] = [_active(pool.listener_id)]
        self._report(lambda lib: status)

    # Members
    def member_create(self, member):
        self._record('member_create', member)
        self._settle_under_pool('members', member.member_id, member.pool_id)

    def member_update(self, old_member, new_member):
        self._record('member_update', old_member, new_member)
        self._settle_under_pool('members', old_member.member_id, old_member.pool_id)

    def member_delete(self, member):
        self._record('member_delete', member)
        self._settle_under_pool('members', member.member_id, member.pool_id, deleted=True)

    # Capabilities
    def get_supported_flavor_metadata(self):
        return FLAVOR_METADATA

    def validate_flavor(self, flavor_metadata):
        unknown = sorted(set(flavor_metadata) - set(FLAVOR_METADATA))
        if unknown:
            raise exceptions.UnsupportedOptionError(
                user_fault_string='unknown flavor keys: %s' % ', '.join(unknown))

    def get_supported_availability_zone_metadata(self):
        return AZ_METADATA
