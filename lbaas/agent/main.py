"""`lbaas agent`: run the amphora agent until SIGTERM.

    lbaas agent --amphora-id ID --state-dir DIR --bind HOST:PORT
                [--ca-file F --cert-file F --key-file F] [--haproxy PATH]
                [--health-manager HOST:PORT ... --heartbeat-key-file F
                 --heartbeat-interval SECONDS]
                [--tenant-log-target HOST:PORT ... --admin-log-target HOST:PORT ...
                 --log-protocol UDP|TCP ... --disable-local-log-storage]

Certificates default to ca.pem, agent.pem and agent.key in the state dir.
Heartbeats go to every --health-manager (none: no heartbeats). Logs are
offloaded as syslog to the log targets (Octavia's [amphora_agent] options).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import ssl
import sys
import threading

from lbaas import wire
from lbaas.agent.heartbeat import HeartbeatSender
from lbaas.agent.log_forward import AdminLogHandler, LogOffload, OffloadSettings
from lbaas.agent.server import AgentHTTPServer, make_server_context
from lbaas.agent.service import AgentService

LOG = logging.getLogger("lbaas.agent")


def parse_bind(text: str) -> tuple[str, int]:
    """ "127.0.0.1:9443" or "[::1]:9443" -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


class AgentArgs(argparse.Namespace):
    """The parsed command line; certificate paths are filled in by `parse_args`."""

    amphora_id: str
    state_dir: str
    bind: tuple[str, int]
    ca_file: str
    cert_file: str
    key_file: str
    haproxy: str
    keepalived: str
    stop_grace: float
    health_managers: list[tuple[str, int]]
    heartbeat_key_file: str | None
    heartbeat_interval: float
    tenant_log_targets: list[tuple[str, int]]
    admin_log_targets: list[tuple[str, int]]
    log_protocol: str
    log_retry_count: int
    log_retry_interval: float
    log_queue_size: int
    user_log_facility: int
    administrative_log_facility: int
    forward_all_logs: bool
    disable_local_log_storage: bool
    debug: bool


def parse_args(argv: list[str]) -> AgentArgs:
    parser = argparse.ArgumentParser(prog="lbaas agent", description=__doc__.split("\n")[0])
    parser.add_argument("--amphora-id", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument(
        "--bind",
        type=parse_bind,
        required=True,
        metavar="HOST:PORT",
        help=f"management address (the controller uses port {wire.DEFAULT_PORT} by default)",
    )
    parser.add_argument("--ca-file", help=f"default: <state-dir>/{wire.CA_FILE}")
    parser.add_argument("--cert-file", help=f"default: <state-dir>/{wire.CERT_FILE}")
    parser.add_argument("--key-file", help=f"default: <state-dir>/{wire.KEY_FILE}")
    parser.add_argument("--haproxy", default="haproxy", help="HAProxy binary")
    parser.add_argument("--keepalived", default="keepalived", help="keepalived binary")
    parser.add_argument(
        "--stop-grace",
        type=float,
        default=5.0,
        help="seconds HAProxy may take to finish connections on stop",
    )
    _add_heartbeat_arguments(parser)
    _add_log_arguments(parser)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv, namespace=AgentArgs())
    if args.health_managers and not args.heartbeat_key_file:
        parser.error("--health-manager needs --heartbeat-key-file")
    if not args.heartbeat_interval > 0:
        parser.error("--heartbeat-interval must be more than 0")
    if not (args.log_retry_interval > 0 and args.log_queue_size > 0):
        parser.error("--log-retry-interval and --log-queue-size must be more than 0")
    args.state_dir = os.path.abspath(args.state_dir)
    args.ca_file = args.ca_file or wire.state_path(args.state_dir, wire.CA_FILE)
    args.cert_file = args.cert_file or wire.state_path(args.state_dir, wire.CERT_FILE)
    args.key_file = args.key_file or wire.state_path(args.state_dir, wire.KEY_FILE)
    for socket_name in (wire.MASTER_SOCKET, wire.STATS_SOCKET):
        if len(os.fsencode(wire.state_path(args.state_dir, socket_name))) > wire.MAX_SOCKET_PATH:
            parser.error(
                f"--state-dir is too long: HAProxy refuses unix socket "
                f"paths longer than {wire.MAX_SOCKET_PATH} bytes"
            )
    return args


def _add_heartbeat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--health-manager",
        dest="health_managers",
        type=parse_bind,
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="where heartbeats go (UDP); repeat for each health manager",
    )
    parser.add_argument(
        "--heartbeat-key-file", help="file holding the heartbeats' HMAC key (its text)"
    )
    parser.add_argument(
        "--heartbeat-interval", type=float, default=1.0, help="seconds between heartbeats"
    )


def _add_log_arguments(parser: argparse.ArgumentParser) -> None:
    for kind in ("tenant", "admin"):
        parser.add_argument(
            f"--{kind}-log-target",
            dest=f"{kind}_log_targets",
            type=parse_bind,
            action="append",
            default=[],
            metavar="HOST:PORT",
            help=f"syslog receiver of the {kind} logs; the first is the primary",
        )
    parser.add_argument("--log-protocol", choices=("UDP", "TCP"), default="UDP", type=str.upper)
    parser.add_argument("--log-retry-count", type=int, default=5, help="-1: forever")
    parser.add_argument("--log-retry-interval", type=float, default=2.0, help="seconds")
    parser.add_argument("--log-queue-size", type=int, default=10000, help="messages per kind")
    for name, default in (("user", 0), ("administrative", 1)):
        parser.add_argument(
            f"--{name}-log-facility", type=int, choices=range(8), default=default, metavar="0-7"
        )
    parser.add_argument("--forward-all-logs", action="store_true")
    parser.add_argument("--disable-local-log-storage", action="store_true")


def offload_settings(args: AgentArgs) -> OffloadSettings:
    return OffloadSettings(
        tenant_targets=tuple(args.tenant_log_targets),
        admin_targets=tuple(args.admin_log_targets),
        protocol=args.log_protocol,
        retry_count=args.log_retry_count,
        retry_interval=args.log_retry_interval,
        queue_size=args.log_queue_size,
        user_facility=args.user_log_facility,
        admin_facility=args.administrative_log_facility,
        forward_all=args.forward_all_logs,
        local_storage=not args.disable_local_log_storage,
    )


def start_offload(args: AgentArgs) -> LogOffload | None:
    """The log forwarders, started, with the agent's own records going to the
    admin targets; None when logs are neither offloaded nor kept from disk."""
    settings = offload_settings(args)
    if settings == OffloadSettings():
        return None
    offload = LogOffload(args.amphora_id, settings)
    offload.start()
    if settings.admin_targets:
        logging.getLogger().addHandler(AdminLogHandler(offload))
    return offload


def read_heartbeat_key(path: str) -> bytes:
    """The key in `path`: its text without surrounding whitespace, as UTF-8."""
    with open(path, encoding="utf-8") as f:
        key = f.read().strip().encode("utf-8")
    if not key:
        raise ValueError("the file is empty")
    return key


def setup_logging(state_dir: str, debug: bool) -> None:
    handler = logging.FileHandler(wire.state_path(state_dir, wire.AGENT_LOG_FILE))
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug else logging.INFO)


def _fail(message: str) -> int:
    LOG.error("cannot start: %s", message)
    print(f"lbaas agent: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(args.state_dir, mode=0o700, exist_ok=True)
    setup_logging(args.state_dir, args.debug)
    # Handlers first: a SIGTERM during start-up must still stop cleanly.
    stop_requested = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop_requested.set())
    offload = start_offload(args)
    service = AgentService(
        args.amphora_id, args.state_dir, args.haproxy, args.keepalived, offload=offload
    )
    heartbeats = None
    if args.health_managers and args.heartbeat_key_file:
        try:
            key = read_heartbeat_key(args.heartbeat_key_file)
        except (OSError, ValueError) as exc:
            return _fail(f"cannot read the heartbeat key {args.heartbeat_key_file}: {exc}")
        heartbeats = HeartbeatSender(
            args.amphora_id,
            args.state_dir,
            service,
            args.health_managers,
            key,
            args.heartbeat_interval,
        )
    try:
        context = make_server_context(args.ca_file, args.cert_file, args.key_file)
    except (OSError, ssl.SSLError) as exc:
        return _fail(f"cannot load {args.ca_file}, {args.cert_file}, {args.key_file}: {exc}")
    try:
        server = AgentHTTPServer(args.bind, service, context)
    except OSError as exc:
        return _fail(f"cannot listen on {args.bind[0]}:{args.bind[1]}: {exc}")
    threading.Thread(target=server.serve_forever, args=(0.2,), name="http", daemon=True).start()
    threading.Thread(target=service.supervise, name="supervisor", daemon=True).start()
    if heartbeats is not None:
        heartbeats.start()
    pid_file = wire.state_path(args.state_dir, wire.AGENT_PID_FILE)
    with open(pid_file, "w") as f:
        f.write(f"{os.getpid()}\n")
    LOG.info(
        "agent %s for amphora %s listening on %s:%s",
        wire.AGENT_VERSION,
        args.amphora_id,
        *server.server_address[:2],
    )
    # A timeout keeps the main thread returning to the interpreter, where
    # signal handlers run.
    while not stop_requested.wait(1.0):
        pass
    LOG.info("stopping")
    if heartbeats is not None:
        # First: a beat from an agent stopping HAProxy would report no listeners.
        heartbeats.stop()
    server.shutdown()
    service.shutdown(grace=args.stop_grace)
    server.server_close()
    os.unlink(pid_file)
    LOG.info("stopped")
    if offload is not None:
        offload.stop()  # after the last messages of HAProxy and the agent
    return 0


if __name__ == "__main__":
    sys.exit(main())
