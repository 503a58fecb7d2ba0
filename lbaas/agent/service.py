"""What the agent does, independent of HTTP: apply bundles, report, supervise."""

from __future__ import annotations

import logging
import os
import socket
import threading

from lbaas import wire
from lbaas.agent import drain, heartbeat, runtime
from lbaas.agent.bundle import BundleStore
from lbaas.agent.haproxy import HAProxyError, HAProxyProcess, StatRow
from lbaas.agent.keepalived import KeepalivedProcess
from lbaas.agent.log_forward import LogOffload
from lbaas.agent.logs import KeepalivedLogFollower, LogSink
from lbaas.agent.nftables import UdpPlane

LOG = logging.getLogger(__name__)
SUPERVISE_INTERVAL = 1.0
MAX_RESTART_BACKOFF = 30.0
# Member-only changes go through HAProxy's runtime API (runtime.py) unless
# this is set to 0; then every change reloads.
RUNTIME_MEMBERS_ENV = "LBAAS_AGENT_RUNTIME_MEMBERS"


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
        self.runtime_members = os.environ.get(RUNTIME_MEMBERS_ENV, "1") != "0"
        self.reaper = drain.Reaper(self.haproxy.stats_socket, self._change_lock)
        self.runtime_applies = 0  # member changes applied without a reload
        self.runtime_fallbacks = 0  # runtime changes that failed and reloaded

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
        return self.haproxy.stats(timeout, heartbeat.STAT_COLUMNS) + udp_rows

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
            # With no HAProxy serving, starting one is the check: it refuses
            # a bad configuration before binding anything, and nothing can be
            # lost. That saves a first push (a new amphora's) a whole
            # `haproxy -c`; a failed start is checked to tell why.
            checked = self.haproxy.is_running()
            gen_dir = self.store.stage(bundle, check_haproxy=checked)
            plan = self._member_plan(gen_dir)
            previous = self.store.activate(gen_dir)
            try:
                if plan is None or not self._apply_at_runtime(plan):
                    self.reaper.clear()  # the new worker starts from the file
                    self._put_current_in_service(replaced=previous)
            except (HAProxyError, OSError, RuntimeError) as exc:
                LOG.error("applying %s failed, rolling back: %s", bundle.digest(), exc)
                self.store.rollback(previous)
                self._restore(previous, failed=gen_dir)
                try:
                    if not checked:
                        self.store.check_haproxy(gen_dir)  # InvalidBundle if it was the cause
                finally:
                    self.store.discard(gen_dir)
                raise ApplyFailed(str(exc), getattr(exc, "details", "")) from None
            self.store.prune()
            LOG.info("configuration %s in service", bundle.digest())
            return self.status()

    def _member_plan(self, gen_dir: str) -> runtime.MemberPlan | None:
        """Runtime changes taking the running bundle to `gen_dir`, or None
        when it needs a reload (anything but server lines differs)."""
        current = self.store.current_dir()
        if not self.runtime_members or current is None or not self.haproxy.is_running():
            return None
        if self.store.keepalived_cfg_of(current) != self.store.keepalived_cfg_of(gen_dir):
            return None
        files = wire.FILES_SUBDIR
        try:
            if not runtime.same_files(os.path.join(current, files), os.path.join(gen_dir, files)):
                return None
            running = _read(os.path.join(current, wire.HAPROXY_CFG_NAME))
            wanted = _read(os.path.join(gen_dir, wire.HAPROXY_CFG_NAME))
        except OSError:
            return None
        plan = runtime.member_plan(running, wanted)
        draining = self.reaper.pending()
        if plan is not None and any(f"{b}/{s.name}" in draining for b, s in plan.added):
            return None  # its old self is still draining under the same name
        return plan

    def _apply_at_runtime(self, plan: runtime.MemberPlan) -> bool:
        """Apply `plan` to the running worker; False (said in the log) if it
        failed, and the caller reloads from the file instead."""
        try:
            current = self.store.current_dir() or ""
            timeout = drain.drain_timeout(_read(os.path.join(current, wire.HAPROXY_CFG_NAME)))
            draining = runtime.apply(self.haproxy.stats_socket, plan, drain_timeout=timeout)
        except (runtime.RuntimeApplyError, OSError) as exc:
            self.runtime_fallbacks += 1
            LOG.warning("runtime member change failed, reloading instead: %s", exc)
            return False
        self.runtime_applies += 1
        # Removed and disabled servers keep their connections up to `timeout`.
        self.reaper.cancel(plan.toggled(disabled=False))
        self.reaper.schedule(draining, timeout)
        self.reaper.schedule(plan.toggled(disabled=True), timeout, delete=False)
        LOG.info(
            "members changed without reload: %d added, %d removed (%d draining), %d changed",
            len(plan.added),
            len(plan.removed),
            len(draining),
            len(plan.changed),
        )
        return True

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


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()
