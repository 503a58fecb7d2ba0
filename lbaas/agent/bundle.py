"""Configuration bundles on disk: validate in a staging directory, swap atomically.

Layout under ``<state_dir>/config``::

    gen-<ns>-<digest12>/        one directory per bundle ever staged (pruned)
        haproxy.cfg  keepalived.cfg  digest  files/<relative paths>
    current  -> gen-...         what HAProxy serves (-C current/files)
    previous -> gen-...         what was served before, for rollback

A bundle is written completely into a fresh generation directory and checked
with ``haproxy -c`` there before anything that serves traffic can see it; the
switch is then one rename of a symlink, so a reader (HAProxy re-executing on
reload, or an agent restarting) sees either the old or the new bundle, never a
mix. No fsync: an amphora does not survive a host crash anyway.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time

from lbaas import wire
from lbaas.agent.nftables import RULESET_FILE as NFT_RULESET_FILE

LOG = logging.getLogger(__name__)
VALIDATE_TIMEOUT = 30  # seconds; `haproxy -c` with many certificates is slow


class InvalidBundle(Exception):
    """The bundle was refused; `details` carries the checker's output."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class BundleStore:
    def __init__(
        self, state_dir: str, haproxy_bin: str = "haproxy", keepalived_bin: str = "keepalived"
    ) -> None:
        self.config_dir = wire.state_path(state_dir, wire.CONFIG_DIR)
        self.current_link = wire.state_path(state_dir, wire.CURRENT_BUNDLE)
        self.previous_link = os.path.join(self.config_dir, "previous")
        self.haproxy_bin = haproxy_bin
        self.keepalived_bin = keepalived_bin
        self.nft_bin = "nft"
        os.makedirs(self.config_dir, mode=0o700, exist_ok=True)

    # -- reading -----------------------------------------------------------

    def current_dir(self) -> str | None:
        """Resolved directory of the active bundle, or None."""
        if not os.path.islink(self.current_link):
            return None
        target = os.path.realpath(self.current_link)
        return target if os.path.isdir(target) else None

    def current_digest(self) -> str | None:
        current = self.current_dir()
        if current is None:
            return None
        try:
            with open(os.path.join(current, wire.DIGEST_NAME)) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def current_keepalived_cfg(self) -> str | None:
        return self.keepalived_cfg_of(self.current_dir())

    @staticmethod
    def keepalived_cfg_of(gen_dir: str | None) -> str | None:
        """Text of a bundle's keepalived configuration, or None."""
        if gen_dir is None:
            return None
        try:
            with open(os.path.join(gen_dir, wire.KEEPALIVED_CFG_NAME)) as f:
                return f.read()
        except FileNotFoundError:
            return None

    # -- staging -----------------------------------------------------------

    def stage(self, bundle: wire.ConfigBundle, check_haproxy: bool = True) -> str:
        """Write `bundle` to a new generation directory and validate it there.

        Returns the directory; raises InvalidBundle (and removes it) if
        HAProxy or keepalived refuse the configuration. `check_haproxy`
        False leaves HAProxy's check to the caller (see `check_haproxy`).
        """
        digest = bundle.digest()
        gen_dir = os.path.join(self.config_dir, f"gen-{time.time_ns()}-{digest[:12]}")
        try:
            self._write(gen_dir, bundle, digest)
            if check_haproxy:
                self.check_haproxy(gen_dir)
            if bundle.keepalived_cfg is not None:
                self._check_keepalived(gen_dir)
            if NFT_RULESET_FILE in bundle.files:
                self._check_nftables(gen_dir)
        except BaseException:
            shutil.rmtree(gen_dir, ignore_errors=True)
            raise
        return gen_dir

    def _write(self, gen_dir: str, bundle: wire.ConfigBundle, digest: str) -> None:
        os.mkdir(gen_dir, 0o700)
        _write_private(os.path.join(gen_dir, wire.HAPROXY_CFG_NAME), bundle.haproxy_cfg)
        if bundle.keepalived_cfg is not None:
            _write_private(os.path.join(gen_dir, wire.KEEPALIVED_CFG_NAME), bundle.keepalived_cfg)
        files_root = os.path.join(gen_dir, wire.FILES_SUBDIR)
        os.mkdir(files_root, 0o700)  # HAProxy's -C directory, even if empty
        for relative, text in bundle.files.items():
            path = os.path.join(files_root, relative)
            # wire.ConfigBundle already refused absolute paths and "..";
            # check again because this is where a mistake would write outside.
            if not os.path.abspath(path).startswith(files_root + os.sep):
                raise InvalidBundle(f"file path escapes the bundle: {relative!r}")
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            _write_private(path, text)
        # Written last: a directory with a digest is a complete bundle.
        _write_private(os.path.join(gen_dir, wire.DIGEST_NAME), digest + "\n")

    def check_haproxy(self, gen_dir: str) -> None:
        # -C: relative paths in the config (certificates) resolve among the
        # bundle's files, exactly as they will for the daemon (see wire.py).
        cmd = [
            self.haproxy_bin,
            "-c",
            "-C",
            os.path.join(gen_dir, wire.FILES_SUBDIR),
            "-f",
            wire.HAPROXY_CFG_FROM_FILES,
        ]
        self._run_check(cmd, "HAProxy configuration is invalid")

    def _check_keepalived(self, gen_dir: str) -> None:
        cfg = os.path.join(gen_dir, wire.KEEPALIVED_CFG_NAME)
        cmd = [self.keepalived_bin, "--config-test", "-f", cfg]
        self._run_check(cmd, "keepalived configuration is invalid")

    def _check_nftables(self, gen_dir: str) -> None:
        # A dry run: the kernel checks the whole transaction, then drops it.
        ruleset = os.path.join(gen_dir, wire.FILES_SUBDIR, NFT_RULESET_FILE)
        self._run_check([self.nft_bin, "-c", "-f", ruleset], "nftables ruleset is invalid")

    def _run_check(self, cmd: list[str], message: str) -> None:
        try:
            result = subprocess.run(
                cmd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=VALIDATE_TIMEOUT,
            )
        except FileNotFoundError:
            raise InvalidBundle(message, f"{cmd[0]} is not installed") from None
        except subprocess.TimeoutExpired:
            raise InvalidBundle(message, f"{cmd[0]} check timed out") from None
        if result.returncode != 0:
            details = (result.stdout + result.stderr).strip()
            LOG.warning("%s: %s", message, details)
            raise InvalidBundle(message, details)

    # -- switching ---------------------------------------------------------

    def activate(self, gen_dir: str) -> str | None:
        """Make `gen_dir` current; returns the previously current dir (or None)."""
        previous = self.current_dir()
        if previous is not None:
            _replace_symlink(self.previous_link, os.path.basename(previous))
        _replace_symlink(self.current_link, os.path.basename(gen_dir))
        return previous

    def rollback(self, previous: str | None) -> None:
        """Point `current` back at `previous` (None: no config at all)."""
        if previous is None:
            _unlink_quietly(self.current_link)
        else:
            _replace_symlink(self.current_link, os.path.basename(previous))

    def discard(self, gen_dir: str) -> None:
        shutil.rmtree(gen_dir, ignore_errors=True)

    def prune(self) -> None:
        """Remove every generation except current and previous."""
        keep = {
            os.path.realpath(link)
            for link in (self.current_link, self.previous_link)
            if os.path.islink(link)
        }
        for name in os.listdir(self.config_dir):
            path = os.path.join(self.config_dir, name)
            if name.startswith("gen-") and path not in keep:
                shutil.rmtree(path, ignore_errors=True)

    def remove_all(self) -> None:
        _unlink_quietly(self.current_link)
        _unlink_quietly(self.previous_link)
        self.prune()


def _write_private(path: str, text: str) -> None:
    # 0600 from the start: bundles carry private keys of listener certificates.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _replace_symlink(link: str, target: str) -> None:
    temporary = f"{link}.tmp-{os.getpid()}-{time.time_ns()}"
    os.symlink(target, temporary)
    os.replace(temporary, link)  # atomic: readers see old or new, never nothing


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
