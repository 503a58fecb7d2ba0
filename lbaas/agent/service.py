"""What the agent does, independent of HTTP: apply bundles, report, supervise."""

from __future__ import annotations

import logging
import socket
import threading

from lbaas import wire
from lbaas.agent.bundle import BundleStore
from lbaas.agent.haproxy import HAProxyError, HAProxyProcess, StatRow
from lbaas.agent.keepalived import KeepalivedProcess
from lbaas.agent.log_forward import LogOffload
from lbaas.agent.logs import KeepalivedLogFollower, LogSink
from lbaas.agent.nftables import UdpPlane

LOG = logging.getLogger(__name__)
SUPERVISE_INTERVAL = 1.0
MAX_RESTART_BACKOFF = 30.0


class ApplyFailed(Exception):
    """A valid bundle could not be put in service; the previous one was restored."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unavailable(Exception):
    """The request cannot be answered in the current state (e.g. no HAProxy)."""


class AgentService:
    def __init__(
        self,
        amphora_id: str,
        state_dir: str,
        haproxy_bin: str = "haproxy",
        keepalived_bin: str = "keepalived",
        udp: UdpPlane | None = None,
        offload: LogOffload | None = None,
    ) -> None:
        self.amphora_id = amphora_id
        self.store = BundleStore(state_dir, haproxy_bin, keepalived_bin)
        self.haproxy = HAProxyProcess(state_dir, haproxy_bin)
        self.keepalived = KeepalivedProcess(state_dir, keepalived_bin)
        # HAProxy's logs to rotated files and, with offload, to syslog targets.
        self.logs = LogSink(state_dir, offload=offload)
        self.keepalived_logs = (
            KeepalivedLogFollower(self.keepalived.log_file, offload) if offload else None
        )
        self.udp = udp or UdpPlane()  # UDP listeners: nftables, not HAProxy
        # One configuration change at a time; the supervisor takes it too, so
        # it never restarts HAProxy in the middle of a swap.
        self._change_lock = threading.Lock()
        self._stopping = threading.Event()
        self._restart_backoff = SUPERVISE_INTERVAL

    # -- queries -----------------------------------------------------------

    def info(self) -> wire.AgentInfo:
        return wire.AgentInfo(
            amphora_id=self.amphora_id,
            haproxy_version=self.haproxy.version(),
            hostname=socket.gethostname(),
        )

    def status(self) -> wire.AgentStatus:
        pid = self.haproxy.master_pid()
        return wire.AgentStatus(
            amphora_id=self.amphora_id,
            config_digest=self.store.current_digest(),
            haproxy_running=pid is not None,
            haproxy_pid=pid,
            haproxy_reloads=self.haproxy.reload_count() if pid else 0,
            keepalived_running=self.keepalived.is_running(),
        )

    def stats(self) -> list[StatRow]:
        if not self.haproxy.is_running():
            raise Unavailable("HAProxy is not running")
        try:
            return self.haproxy.stats()
        except OSError as exc:
            raise Unavailable(f"HAProxy stats socket {self.haproxy.stats_socket}: {exc}") from None

    # -- for the heartbeat sender (heartbeat.HeartbeatSource) ---------------

    def stat_rows(self, timeout: float) -> list[StatRow] | None:
        """`show stat`, waiting at most `timeout`; None when HAProxy does not
        run, OSError when it runs but its stats socket does not answer."""
        udp_rows = self.udp.stat_rows()
        if not self.haproxy.is_running():
            return udp_rows or None
        return self.haproxy.stats(timeout) + udp_rows

    def running_digest(self) -> str | None:
        return self.store.current_digest()

    # -- changes -----------------------------------------------------------

    def apply(self, bundle: wire.ConfigBundle) -> wire.AgentStatus:
        """Put `bundle` in service; idempotent on its digest.

        Raises InvalidBundle (nothing changed) or ApplyFailed (rolled back).
        """
        with self._change_lock:
            if bundle.digest() == self.store.current_digest():
                try:
                    self._ensure_running()  # no reload, but revive what died
                except (HAProxyError, OSError, RuntimeError) as exc:
                    raise ApplyFailed(str(exc), getattr(exc, "details", "")) from None
                return self.status()
            gen_dir = self.store.stage(bundle)
            previous = self.store.activate(gen_dir)
            try:
                self._put_current_in_service(replaced=previous)
            except (HAProxyError, OSError, RuntimeError) as exc:
                LOG.error("applying %s failed, rolling back: %s", bundle.digest(), exc)
                self.store.rollback(previous)
                self._restore(previous, failed=gen_dir)
                self.store.discard(gen_dir)
                raise ApplyFailed(str(exc), getattr(exc, "details", "")) from None
            self.store.prune()
            LOG.info("configuration %s in service", bundle.digest())
            return self.status()

    def _put_current_in_service(self, replaced: str | None) -> None:
        """Reload (or start) for the current bundle, which took over from the
        bundle directory `replaced` (None: nothing ran before)."""
        if self.haproxy.is_running():
            self.haproxy.reload()
        else:
            self.haproxy.start()
        self.udp.serve(self.store.current_dir())
        wanted = self.store.current_keepalived_cfg()
        if wanted is None:
            self.keepalived.stop()
        elif not self.keepalived.is_running():
            self.keepalived.start()
        elif wanted != self.store.keepalived_cfg_of(replaced):
            # Only on a real change: a reload re-runs VRRP's configuration.
            self.keepalived.reload()

    def _restore(self, previous: str | None, failed: str) -> None:
        """Bring processes back to the rolled-back configuration (best effort)."""
        try:
            if previous is None:
                self.keepalived.stop()
                self.haproxy.stop(grace=0)
                self.udp.stop()
            else:
                self._put_current_in_service(replaced=failed)
        except (HAProxyError, OSError, RuntimeError) as exc:
            LOG.error("restoring the previous configuration failed: %s", exc)

    def _ensure_running(self) -> None:
        """Start whatever the current bundle needs and is not running."""
        if self.store.current_dir() is None:
            return
        if not self.haproxy.is_running():
            LOG.warning("HAProxy is not running; starting it")
            self.haproxy.start()
        if self.store.current_keepalived_cfg() and not self.keepalived.is_running():
            LOG.warning("keepalived is not running; starting it")
            self.keepalived.start()
        self.udp.ensure(self.store.current_dir())

    def remove(self) -> wire.AgentStatus:
        """Stop everything and forget the configuration (DELETE /1.0/config)."""
        with self._change_lock:
            self.keepalived.stop()
            self.haproxy.stop()
            self.udp.stop()
            self.store.remove_all()
            LOG.info("configuration removed")
            return self.status()

    # -- lifetime ----------------------------------------------------------

    def supervise(self) -> None:
        """Loop (in a thread): restart a dead HAProxy/keepalived, with backoff."""
        self.haproxy.version()  # warm the cache: `info` is the readiness probe
        self.logs.start()
        if self.keepalived_logs is not None:
            self.keepalived_logs.start()
        while not self._stopping.is_set():
            self.supervise_once()
            self._stopping.wait(self._restart_backoff)

    def supervise_once(self) -> None:
        if not self._change_lock.acquire(blocking=False):
            return  # a change is in progress; it starts what it needs
        try:
            if self._stopping.is_set():
                return
            self._ensure_running()
            self._restart_backoff = SUPERVISE_INTERVAL
        except (HAProxyError, OSError, RuntimeError) as exc:
            self._restart_backoff = min(self._restart_backoff * 2, MAX_RESTART_BACKOFF)
            LOG.error(
                "restart failed (next try in %.0f s): %s %s",
                self._restart_backoff,
                exc,
                getattr(exc, "details", ""),
            )
        finally:
            self._change_lock.release()

    def shutdown(self, grace: float = 5.0) -> None:
        """Stop HAProxy and keepalived; keep the configuration on disk so a
        restarted agent serves it again."""
        self._stopping.set()
        with self._change_lock:
            self.keepalived.stop()
            self.haproxy.stop(grace=grace)
            self.logs.stop()
            if self.keepalived_logs is not None:
                self.keepalived_logs.stop()
            self.udp.stop()
