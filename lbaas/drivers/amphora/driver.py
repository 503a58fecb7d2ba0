"""The `rest` amphora driver: the reconcile loop's side of the agent API.

A transport only: the controller renders each amphora's bundle; this driver
carries it to the agent and maps the agent client's errors onto the worker's
retry rules: unreachable is transient, a refused configuration is permanent.
"""
from lbaas import config, wire
from lbaas.drivers.amphora import rest
from lbaas.drivers.base import Amphora, PermanentError, TransientError

PORT = wire.DEFAULT_PORT
READY_PROBE = 0.25  # seconds: a booting agent refuses at once, a lost one times out


def pki_dir() -> str:
    return config.state_path('pki')


class RestAmphora:
    def __init__(self):
        self.client = rest.AgentClient(pki_dir())

    def _where(self, amphora):
        return amphora.id, amphora.lb_network_ip, PORT

    def ready(self, amphora: Amphora) -> bool:
        try:
            self.client.info(*self._where(amphora), connect_timeout=READY_PROBE)
        except rest.AgentError:
            return False
        return True

    def running_digest(self, amphora):
        try:
            return self.client.status(*self._where(amphora)).config_digest
        except rest.AgentUnreachable:
            return None

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
