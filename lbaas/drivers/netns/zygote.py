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
from typing import BinaryIO

LOG = logging.getLogger(__name__)

ANSWER_TIMEOUT = 30.0  # seconds: a fork and a setns take milliseconds


class ZygoteError(Exception):
    """The zygote could not start an agent."""


class Zygote:
    def __init__(self, python: str, env: Mapping[str, str]) -> None:
        self.python, self.env = python, dict(env)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: tuple[socket.socket, BinaryIO] | None = None  # ours, its replies

    def spawn(self, argv: Sequence[str], netns: str, cwd: str, console: str) -> int:
        """Fork an agent with `argv` in the namespace at path `netns`; its pid."""
        request = (
            json.dumps(
                {'argv': list(argv), 'netns': netns, 'cwd': cwd, 'console': console}
            ).encode()
            + b'\n'
        )
        with self._lock:
            channel, replies = self._ensure()
            try:
                channel.sendall(request)
                line = replies.readline()
                if not line:
                    raise OSError('the agent zygote closed its socket')
                answer = json.loads(line)
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

    def _ensure(self) -> tuple[socket.socket, BinaryIO]:
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
        self._channel = (ours, ours.makefile('rb'))
        LOG.info('agent zygote started, pid %d', self._process.pid)
        return self._channel

    def _stop(self) -> None:
        """Close our end: the zygote sees EOF and exits (its agents run on)."""
        if self._channel is not None:
            for end in reversed(self._channel):  # the socket closes with its last file
                end.close()
            self._channel = None
        if self._process is not None:
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
