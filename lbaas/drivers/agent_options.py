"""The amphora agent's settings as command-line options, the same for every
compute driver that starts an agent (netns: its command line; nova: the
systemd unit cloud-init writes)."""

from __future__ import annotations

from lbaas import config


def host_port(host: str, port: int) -> str:
    return '[%s]:%d' % (host, port) if ':' in host else '%s:%d' % (host, port)


def heartbeat_options(key_file: str) -> list[str]:
    """Where heartbeats go, with which key, how often (`[health_manager]`)."""
    options: list[str] = []
    for host, port in config.health_manager_addresses():
        options += ['--health-manager', host_port(host, port)]
    return options + [
        '--heartbeat-key-file',
        key_file,
        '--heartbeat-interval',
        repr(float(config.CONF.health_manager.heartbeat_interval)),
    ]


def log_options() -> list[str]:
    """`[amphora_agent]` log offloading as agent options; none when unused."""
    agent = config.CONF.amphora_agent
    options: list[str] = []
    for kind, option in (('tenant', 'tenant_log_targets'), ('admin', 'admin_log_targets')):
        for host, port in config.log_targets(option):
            options += ['--%s-log-target' % kind, host_port(host, port)]
    if not options and not agent.disable_local_log_storage:
        return []
    options += [
        '--log-protocol', agent.log_protocol.upper(),
        '--log-retry-count', str(agent.log_retry_count),
        '--log-retry-interval', str(agent.log_retry_interval),
        '--log-queue-size', str(agent.log_queue_size),
        '--user-log-facility', str(agent.user_log_facility),
        '--administrative-log-facility', str(agent.administrative_log_facility),
    ]  # fmt: skip
    if agent.forward_all_logs:
        options.append('--forward-all-logs')
    if agent.disable_local_log_storage:
        options.append('--disable-local-log-storage')
    return options
