"""No-op drivers: everything succeeds at once and nothing runs.

They behave as Octavia's noop drivers, which other tools test against:
objects reach ACTIVE, and since no amphora reports health, load balancers
and listeners stay OFFLINE and members NO_MONITOR.
"""
import uuid

from lbaas import wire
from lbaas.dataplane import build, render

# The noop amphora renders what a real one would run, so its digest changes
# exactly when the served configuration does (and the renderer is exercised).
NOOP_PATHS = render.RuntimePaths.in_state_dir('/nonexistent/noop-amphora', cert_dir='certs',
                                              pid_file=False)


class NoopCompute:
    def build(self, amphora_id, lb_id):
        return 'noop-' + amphora_id

    def compute_id_for(self, amphora_id):
        return 'noop-' + amphora_id

    def delete(self, compute_id):
        pass

    def status(self, compute_id):
        return 'ACTIVE'


class NoopNetwork:
    def plug_amphora(self, amphora, lb):
        return {'lb_network_ip': None, 'vrrp_ip': None, 'vrrp_port_id': str(uuid.uuid4()),
                'ha_ip': lb.vip.ip_address if lb.vip else None,
                'ha_port_id': lb.vip.port_id if lb.vip else None, 'vrrp_interface': None}

    def unplug_amphora(self, amphora):
        pass

    def member_subnet_ids(self, addresses):
        return []

    def plug_member_subnets(self, amphora, subnet_ids):
        return {}

    def release_vip(self, lb):
        pass


class NoopAmphora:
    def bundle_for(self, lb, amphora):
        return wire.ConfigBundle(haproxy_cfg=render.render_haproxy(build.lb_view(lb),
                                                                   NOOP_PATHS))

    def wait_ready(self, amphora, timeout):
        pass

    def running_digest(self, amphora):
        # The noop amphora "runs" whatever the database says was pushed last.
        return amphora.config_digest

    def push(self, amphora, bundle):
        return bundle.digest()

    def stats(self, amphora):
        return []
