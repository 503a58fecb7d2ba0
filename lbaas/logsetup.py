"""The services' logging, with oslo.log, as OpenStack operators know it.

oslo.log's options (`debug`, `log_file`, `log_dir`, `use_syslog`,
`log_config_append`, `default_log_levels`...) are registered in
lbaas/config.py; here each process sets its logging up and re-reads it on
SIGHUP. The additions to plain oslo.log:

- a process logs to one file per service: with `log_dir` and no
  `log_file`, `<log_dir>/<service>.log` (oslo.log would name it after the
  program, which `python -m` makes meaningless); under `lbaas serve`, when
  the operator chose neither, `state_dir/logs/<service>.log`
  (lbaas/supervisor.py);
- with no file at all a process logs to standard error (oslo.log's fallback
  is standard output, where `lbaas status upgrade check --json` prints);
- SIGHUP re-reads the configuration files (the mutable options: `debug`)
  and re-opens the log files (after logrotate moved them), in a thread: the
  handler may interrupt code that holds a logging lock.
"""
import logging
import logging.handlers
import os
import signal
import threading
from importlib import metadata

from oslo_config import cfg
from oslo_log import log as oslo_logging

from lbaas import config

LOG = logging.getLogger('lbaas')
PROJECT = 'lbaas'

# `log_file` and `log_dir` as the configuration files set them, before
# setup() added its own overrides: `lbaas serve` chooses its children's
# files from them.
_chosen: dict[str, str | None] = {'log_file': None, 'log_dir': None}


def _version() -> str:
    try:
        return metadata.version('lbaas')
    except metadata.PackageNotFoundError:  # run from a tree that is not installed
        return 'unknown'


def setup(service: str, log_file: str | None = None, debug: bool = False) -> None:
    """oslo.log's setup for this process; `log_file` and `debug` are the
    command line's, which win over the configuration files."""
    conf = config.CONF
    _chosen.update(log_file=conf.log_file, log_dir=conf.log_dir)
    if debug:
        conf.set_override('debug', True)
    if log_file:
        conf.set_override('log_file', os.path.abspath(log_file))  # log_dir ignored
    elif conf.log_dir and not conf.log_file:
        conf.set_override('log_file', service + '.log')
    if conf.log_dir:
        os.makedirs(conf.log_dir, mode=0o700, exist_ok=True)
    if not (conf.log_file or conf.log_dir or conf.use_stderr or conf.use_journal):
        conf.set_override('use_stderr', True)
    oslo_logging.setup(conf, PROJECT, _version())


def configured_path(service: str) -> str | None:
    """The file the configuration files send `service`'s log to, or None."""
    log_file, log_dir = _chosen['log_file'], _chosen['log_dir']
    if log_dir:
        return os.path.join(log_dir, log_file or service + '.log')
    return log_file


def reopen() -> None:
    """Re-open every log file (logrotate moved it away)."""
    handlers = [h for logger in [logging.getLogger()] + _named_loggers()
                for h in logger.handlers]
    for handler in handlers:
        if isinstance(handler, logging.handlers.WatchedFileHandler):
            handler.reopenIfNeeded()
        elif isinstance(handler, logging.FileHandler):
            handler.acquire()
            try:
                old = handler.setStream(handler._open())
                if old is not None:
                    old.close()
            finally:
                handler.release()


def _named_loggers() -> list[logging.Logger]:
    return [x for x in logging.Logger.manager.loggerDict.values()
            if isinstance(x, logging.Logger)]


def reload() -> None:
    """SIGHUP: re-read the mutable options (`debug`), re-open the log files."""
    conf = config.CONF
    try:
        conf.mutate_config_files()  # oslo.log's hook applies `debug`
    except (cfg.Error, OSError, ValueError) as exc:
        LOG.warning('SIGHUP: the configuration files could not be re-read (%s); '
                    'the settings stay as they were', exc)
    if not conf.log_config_append:
        logging.getLogger().setLevel(logging.DEBUG if conf.debug else logging.INFO)
    reopen()
    LOG.info('SIGHUP: configuration re-read, logs re-opened; debug = %s', conf.debug)
    LOG.debug('logging at DEBUG level')


def reload_in_thread() -> None:
    threading.Thread(target=reload, name='sighup', daemon=True).start()


def reload_on_hup() -> None:
    """Install the SIGHUP handler of a service process."""
    signal.signal(signal.SIGHUP, lambda *_: reload_in_thread())
