"""The `rest` amphora driver: the reconcile loop's side of the agent API.

It renders each amphora's HAProxy configuration (paths point into that
amphora's own state directory) and maps the agent client's errors onto the
worker's retry rules: unreachable is transient, a refused configuration is
permanent.
"""
from lbaas import config, wire
from lbaas.dataplane import build, render
from lbaas.drivers.amphora import rest
from lbaas.drivers.base import PermanentError, TransientError
from lbaas.drivers.netns import layout

PORT = wire.DEFAULT_PORT


def amphora_dir(amphora_id):
    """Where the amphora's agent keeps its state, as the compute driver laid it out."""
    return layout.StateStore(config.CONF.state_dir).amphora_dir(amphora_id)


def pki_dir():
    return config.state_path('pki')


class RestAmphora:
    def __init__(self):
        self.client = rest.AgentClient(pki_dir())

    def _where(self, amphora):
        return amphora.id, amphora.lb_network_ip, PORT

    def wait_ready(self, amphora, timeout):
        try:
            self.client.wait_ready(*self._where(amphora), timeout)
        except rest.AgentUnreachable as exc:
            raise TransientError(str(exc))

    def running_digest(self, amphora):
        try:
            return self.client.status(*self._where(amphora)).config_digest
        except rest.AgentUnreachable:
            return None

    def bundle_for(self, lb, amphora):
        paths = render.RuntimePaths.in_state_dir(amphora_dir(amphora.id), cert_dir='certs',
                                                 pid_file=False)
        text = render.render_haproxy(build.lb_view(lb), paths)
        return wire.ConfigBundle(haproxy_cfg=text)

    def push(self, amphora, bundle):
        try:
            return self.client.put_config(*self._where(amphora), bundle).config_digest
        except rest.AgentUnreachable as exc:
            raise TransientError(str(exc))
        except rest.AgentRejected as exc:
            raise PermanentError('amphora %s refused the configuration: %s %s'
                                 % (amphora.id, exc.message, exc.details))
        except rest.AgentError as exc:
            raise TransientError(str(exc))

    def stats(self, amphora):
        """HAProxy's `show stat` rows; None when the agent cannot say."""
        try:
            return self.client.stats(*self._where(amphora))
        except rest.AgentError:
            return None
