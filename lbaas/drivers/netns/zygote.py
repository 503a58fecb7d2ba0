"""The controller's side of the agent zygote (lbaas/agent/zygote.py).

One zygote per controller process that starts agents (the worker, and
housekeeping for the warm pool), reached over a socket pair: no path to
name, clean up or share. It is started on first use, started again if it
died, and ends when this process closes its end or exits.
"""

import json
import logging
import socket
import subprocess
import threading
from collections.abc import Mapping, Sequence

LOG = logging.getLogger(__name__)

ANSWER_TIMEOUT = 30.0  # seconds: a fork and a setns take milliseconds


class ZygoteError(Exception):
    """The zygote could not start an agent."""


class Zygote:
    def __init__(self, python: str, env: Mapping[str, str]) -> None:
        self.python, self.env = python, dict(env)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None

    def spawn(self, argv: Sequence[str], netns: str, cwd: str, console: str) -> int:
        """Fork an agent with `argv` in the namespace at path `netns`; its pid."""
        request = (
            json.dumps(
                {'argv': list(argv), 'netns': netns, 'cwd': cwd, 'console': console}
            ).encode()
            + b'\n'
        )
        with self._lock:
            channel = self._ensure()
            try:
                channel.sendall(request)
                answer = json.loads(self._read_line(channel))
            except (OSError, ValueError) as exc:
                self._stop()  # out of step with it: the next call starts another
                raise ZygoteError('the agent zygote did not answer: %s' % exc) from exc
        if 'pid' not in answer:
            raise ZygoteError(answer.get('error') or 'no pid in %r' % answer)
        return int(answer['pid'])

    def close(self) -> None:
        with self._lock:
            self._stop()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _ensure(self) -> socket.socket:
        if self._channel is not None and self._process is not None and self._process.poll() is None:
            return self._channel
        self._stop()
        ours, theirs = socket.socketpair()
        try:
            self._process = subprocess.Popen(
                [self.python, '-S', '-m', 'lbaas.agent.zygote', '--fd', str(theirs.fileno())],
                env=self.env,
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # a signal to our process group is not for it
        except OSError as exc:
            ours.close()
            raise ZygoteError('cannot start the agent zygote: %s' % exc) from exc
        finally:
            theirs.close()
        ours.settimeout(ANSWER_TIMEOUT)
        self._channel = ours
        LOG.info('agent zygote started, pid %d', self._process.pid)
        return ours

    @staticmethod
    def _read_line(channel: socket.socket) -> bytes:
        line = b''
        while not line.endswith(b'\n'):
            chunk = channel.recv(4096)
            if not chunk:
                raise OSError('the agent zygote closed its socket')
            line += chunk
        return line

    def _stop(self) -> None:
        """Close our end: the zygote sees EOF and exits (its agents run on)."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process is not None:
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
