"""The `lbaas` command."""
import argparse
import logging
import os
import signal
import stat
import sys
import threading
from importlib import metadata

from lbaas import config, logsetup

LOG = logging.getLogger('lbaas')


def _common(parser):
    parser.add_argument('--config-file', action='append', default=[],
                        help='lbaas.conf (repeatable; later files win; default: %s '
                             'if it exists)' % config.DEFAULT_CONFIG_FILE)
    parser.add_argument('--config-dir', action='append', default=[],
                        help='also read every *.conf in this directory, sorted, '
                             'after the files (repeatable)')
    parser.add_argument('--state-dir', help='state directory (database, logs, amphorae)')
    parser.add_argument('--noop', action='store_true',
                        help='use the noop compute, network and amphora drivers')
    parser.add_argument('--debug', action='store_true',
                        help='log at DEBUG level (as [DEFAULT] debug = True)')
    parser.add_argument('--log-file', help='log to this file (as [DEFAULT] log_file)')


def _setup(args):
    # Everything a service writes (database, logs, keys, sockets) is its
    # owner's alone: the database holds every project's objects.
    os.umask(0o077)
    config.load([], args.config_file or None, args.config_dir)
    conf = config.CONF
    if args.state_dir:
        conf.set_override('state_dir', os.path.abspath(args.state_dir))
    if args.noop:
        for name in ('compute_driver', 'network_driver', 'amphora_driver'):
            conf.set_override(name, 'noop', 'controller_worker')
    if getattr(args, 'bind', None):
        host, _, port = args.bind.rpartition(':')
        conf.set_override('bind_host', host.strip('[]'), 'api_settings')
        conf.set_override('bind_port', int(port), 'api_settings')
    try:
        config.validate()
    except config.ConfigError as exc:
        # The upgrade check reports this itself, with its own exit code.
        if args.func is not cmd_status:
            sys.exit('lbaas: bad configuration: %s' % exc)
    logsetup.setup(args.command, args.log_file, args.debug)
    os.makedirs(conf.state_dir, mode=0o700, exist_ok=True)


def loose_state_paths(root):
    """Paths under the state directory that users other than its owner may read."""
    loose = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != 'amphorae']  # each amphora guards its own
        for path in [directory] + [os.path.join(directory, f) for f in files]:
            try:
                mode = os.lstat(path).st_mode
            except FileNotFoundError:
                continue
            if not stat.S_ISLNK(mode) and mode & 0o077:
                loose.append(path)
    return loose


def _warn_loose_permissions():
    loose = loose_state_paths(config.CONF.state_dir)
    if loose:
        LOG.warning('%d paths in the state directory %s are readable by other users '
                    '(chmod go= them): %s', len(loose), config.CONF.state_dir,
                    ', '.join(loose[:10]) + (' ...' if len(loose) > 10 else ''))


def cmd_db(args):
    from lbaas.db import migrate
    where = config.database_url().split('@')[-1]
    if args.action == 'upgrade':
        migrate.upgrade()
        print('database at %s is up to date' % where)
        return 0
    revision, head = migrate.current()
    if revision == head:
        print('database at %s: revision %s (head)' % (where, revision))
        return 0
    print('database at %s: revision %s, not at head %s (run `lbaas db upgrade`)'
          % (where, revision or 'none', head))
    return 1


def cmd_status(args):
    from lbaas import upgradecheck
    from lbaas.api import policy  # registers [oslo_policy]; the checks get its rules
    return upgradecheck.main(policy.list_rules, args.json)


def cmd_api(args):
    from lbaas.api import server
    server.serve()


def cmd_worker(args):
    from lbaas.controller import worker
    instance = worker.Worker()
    signal.signal(signal.SIGTERM, lambda *_: instance.stop())
    logsetup.reload_on_hup()
    instance.run()


def cmd_housekeeping(args):
    from lbaas.controller import housekeeping
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    logsetup.reload_on_hup()
    housekeeping.run(stop)


def cmd_health_manager(args):
    from lbaas.controller import health
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    logsetup.reload_on_hup()
    health.run(stop)


def cmd_config_sample(args):
    from oslo_config import generator
    generator.main(['--namespace', 'lbaas', '--namespace', 'oslo.log',
                    '--namespace', 'oslo.policy',
                    '--namespace', 'keystonemiddleware.auth_token',
                    '--output-file', args.output or '/dev/stdout'])


def cmd_demo(args):
    from lbaas import demo
    return demo.main(args.endpoint, args.requests)


def cmd_serve(args):
    """All in one: database, then api, worker, housekeeping and the health
    manager as children (lbaas/supervisor.py)."""
    from lbaas import supervisor
    from lbaas.db import migrate
    problem = supervisor.port_problem()
    if problem:
        sys.exit('lbaas: cannot serve the API on %s: %s' % (supervisor.api_address(), problem))
    _warn_loose_permissions()
    migrate.upgrade()
    return supervisor.serve(args, logsetup.reload)


def _version():
    try:
        return metadata.version('lbaas')
    except metadata.PackageNotFoundError:  # run from a tree that is not installed
        return 'unknown'


def build_parser():
    parser = argparse.ArgumentParser(prog='lbaas', description=__doc__)
    parser.add_argument('--version', action='version', version='lbaas %s' % _version())
    sub = parser.add_subparsers(dest='command', required=True)
    for name, func, text in (('serve', cmd_serve, 'all-in-one service'),
                             ('api', cmd_api, 'REST API'),
                             ('worker', cmd_worker, 'reconcile worker'),
                             ('housekeeping', cmd_housekeeping, 'periodic clean-up'),
                             ('health-manager', cmd_health_manager,
                              'heartbeats: amphora health, statuses, failovers')):
        p = sub.add_parser(name, help=text)
        _common(p)
        p.set_defaults(func=func)
        if name in ('serve', 'api'):
            p.add_argument('--bind', help='HOST:PORT (default 127.0.0.1:9876)')
    demo = sub.add_parser('demo', help='two backends behind a new load balancer, '
                                       'through a running `lbaas serve`')
    _common(demo)
    demo.add_argument('--endpoint', default='http://127.0.0.1:9876',
                      help='the API of the running service')
    demo.add_argument('--requests', type=int, default=6, help='requests to show')
    demo.set_defaults(func=cmd_demo)
    db = sub.add_parser('db', help='database: upgrade it, or show its revision '
                                   '(exit 1 when not at head)')
    db.add_argument('action', choices=['upgrade', 'current'])
    _common(db)
    db.set_defaults(func=cmd_db)
    status = sub.add_parser('status', help='`status upgrade check`: is this host ready '
                                           'for the new code (exit 0, 1 warning, 2 failure)')
    status.add_argument('area', choices=['upgrade'])
    status.add_argument('action', choices=['check'])
    status.add_argument('--json', action='store_true', help='results as JSON')
    _common(status)
    status.set_defaults(func=cmd_status)
    cfg = sub.add_parser('config', help='configuration')
    cfg.add_argument('action', choices=['sample'])
    cfg.add_argument('--output')
    _common(cfg)
    cfg.set_defaults(func=cmd_config_sample)
    agent = sub.add_parser('agent', help='amphora agent (runs inside an amphora)',
                           add_help=False)
    agent.set_defaults(func=None)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ['agent']:
        from lbaas.agent import main as agent_main
        return agent_main.main(argv[1:])
    args = build_parser().parse_args(argv)
    _setup(args)
    return args.func(args)


if __name__ == '__main__':
    sys.exit(main())
