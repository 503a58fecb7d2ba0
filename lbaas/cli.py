"""The `lbaas` command."""
import argparse
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import time

from lbaas import config

LOG = logging.getLogger('lbaas')
SERVICES = ('api', 'worker', 'housekeeping', 'health-manager')


def _common(parser):
    parser.add_argument('--config-file', action='append', default=[],
                        help='lbaas.conf (repeatable; later files win)')
    parser.add_argument('--state-dir', help='state directory (database, logs, amphorae)')
    parser.add_argument('--noop', action='store_true',
                        help='use the noop compute, network and amphora drivers')
    parser.add_argument('--debug', action='store_true')
    parser.add_argument('--log-file', help='log here instead of standard error')


def _setup(args):
    # Everything a service writes (database, logs, keys, sockets) is its
    # owner's alone: the database holds every project's objects.
    os.umask(0o077)
    config.load([], args.config_file)
    conf = config.CONF
    if args.state_dir:
        conf.set_override('state_dir', os.path.abspath(args.state_dir))
    if args.debug:
        conf.set_override('debug', True)
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
        sys.exit('lbaas: bad configuration: %s' % exc)
    logging.basicConfig(
        filename=args.log_file or conf.log_file,
        level=logging.DEBUG if conf.debug else logging.INFO,
        format='%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s')
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
    migrate.upgrade()
    print('database at %s is up to date' % config.database_url().split('@')[-1])


def cmd_api(args):
    from lbaas.api import server
    server.serve()


def cmd_worker(args):
    from lbaas.controller import worker
    instance = worker.Worker()
    signal.signal(signal.SIGTERM, lambda *_: instance.stop())
    instance.run()


def cmd_housekeeping(args):
    from lbaas.controller import housekeeping
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    housekeeping.run(stop)


def cmd_health_manager(args):
    from lbaas.controller import health
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    health.run(stop)


def cmd_config_sample(args):
    from oslo_config import generator
    generator.main(['--namespace', 'lbaas', '--namespace', 'oslo.policy',
                    '--output-file', args.output or '/dev/stdout'])


def cmd_demo(args):
    from lbaas import demo
    return demo.main(args.endpoint, args.requests)


def _child_command(args, service):
    command = [sys.executable, '-m', 'lbaas.cli', service,
               '--state-dir', config.CONF.state_dir,
               '--log-file', config.state_path('logs', service + '.log')]
    for path in args.config_file:
        command += ['--config-file', path]
    if args.noop:
        command.append('--noop')
    if args.debug:
        command.append('--debug')
    if service == 'api':
        command += ['--bind', '%s:%d' % (config.CONF.api_settings.bind_host,
                                         config.CONF.api_settings.bind_port)]
    return command


def cmd_serve(args):
    """All in one: database, then api, worker, housekeeping and the health
    manager as children."""
    from lbaas.db import migrate
    _warn_loose_permissions()
    migrate.upgrade()
    children = {s: subprocess.Popen(_child_command(args, s)) for s in SERVICES}
    endpoint = 'http://%s:%d' % (config.CONF.api_settings.bind_host,
                                 config.CONF.api_settings.bind_port)
    from lbaas.drivers import registry
    print('lbaas is serving the load-balancer API v2 at %s' % endpoint)
    print(registry.describe())
    print('logs: %s' % config.state_path('logs', ''))
    print('try:  openstack --os-auth-type none --os-endpoint %s loadbalancer list' % endpoint)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    while not stopping.wait(1.0):
        for service, child in children.items():
            if child.poll() is not None:  # a crashed child comes back
                LOG.warning('%s exited with %s; restarting', service, child.returncode)
                children[service] = subprocess.Popen(_child_command(args, service))
    for child in children.values():
        child.terminate()
    deadline = time.time() + 10
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            child.kill()


def build_parser():
    parser = argparse.ArgumentParser(prog='lbaas', description=__doc__)
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
    db = sub.add_parser('db', help='database')
    db.add_argument('action', choices=['upgrade'])
    _common(db)
    db.set_defaults(func=cmd_db)
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
