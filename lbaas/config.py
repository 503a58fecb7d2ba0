"""Configuration (`lbaas.conf`, oslo.config INI), grouped per service.

Option names follow Octavia's where Octavia has the same knob, so operators
can carry their settings over; `lbaas-sample.conf` is generated from here
(`lbaas config sample`).
"""
import ipaddress
import logging
import os
import secrets
from collections.abc import Iterable

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg
from oslo_log import log as oslo_logging

CONF = cfg.CONF

default_opts: list[cfg.Opt] = [
    cfg.StrOpt('state_dir', default=os.path.join(os.getcwd(), 'state'),
               help='Where the embedded database, logs and amphora state live.'),
    cfg.StrOpt('host', default=os.uname().nodename,
               help='Name of this host; it owns the worker leases it takes.'),
]

api_opts: list[cfg.Opt] = [
    cfg.StrOpt('bind_host', default='127.0.0.1', help='API listen address.'),
    cfg.PortOpt('bind_port', default=9876, help='API listen port.'),
    cfg.IntOpt('workers', default=2, min=1, help='gunicorn worker processes.'),
    cfg.StrOpt('frontend', default='uvicorn',
               choices=[('uvicorn', 'each worker reads whole requests on an event '
                                    'loop (an idle or slow client costs no thread), '
                                    'then runs the API in a thread'),
                        ('gthread', 'the former gunicorn threads, where such a client '
                                    'holds a thread; for comparison (the timeouts '
                                    'and the per-client limit below do not apply)')],
               help='The HTTP front end of the API worker processes.'),
    cfg.IntOpt('threads', default=2, min=1,
               help='Threads per worker process that run the API (number). Under '
                    'uvicorn they run only requests already read, so few suffice: '
                    'more contend for the interpreter lock (2 gave the best rate '
                    'and p99 on 2 cores). Under gthread each connection holds one.'),
    cfg.FloatOpt('header_timeout', default=5.0, min=0.1,
                 help='Seconds a client has, from the first byte of a request, to '
                      'send all of its headers; then 408 and the connection closes.'),
    cfg.FloatOpt('body_timeout', default=30.0, min=0.1,
                 help='Seconds a client has, once its headers are in, to send the '
                      'whole request body; then 408 and the connection closes.'),
    cfg.FloatOpt('keepalive_timeout', default=5.0, min=0.1,
                 help='Seconds an idle connection (no request under way) stays '
                      'open, before its first request and between requests.'),
    cfg.IntOpt('max_connections_per_client', default=100, min=0,
               help='Open connections one client address may have at once, over '
                    'all worker processes (number; 0 = unlimited); more are '
                    'answered 429 and closed.'),
    cfg.BoolOpt('log_reads', default=False, mutable=True,
                help='Log every successful read (GET, HEAD) at INFO in api.log, as '
                     'writes and failed requests always are. Off, such a read is '
                     'logged at DEBUG unless it took a second or more: controllers '
                     'poll LBs many times a second, and a line per poll cost a '
                     'fifth of the rate of GET one LB (measured). Re-read on SIGHUP.'),
    cfg.StrOpt('auth_strategy', default='noauth', choices=['noauth', 'keystone'],
               help='noauth trusts X-Project-Id (and X-Roles); keystone '
                    'validates tokens with keystonemiddleware.'),
    cfg.StrOpt('default_project_id', default='admin',
               help='Project of a noauth request that names none.'),
    cfg.BoolOpt('enforce_quotas_noauth', default=False,
                help='Octavia ignores quotas under noauth; set this to '
                     'enforce them anyway.'),
    cfg.StrOpt('pagination_max_limit', default='1000',
               help='Default and ceiling page size; "infinite" disables it.'),
    cfg.StrOpt('api_base_uri', help='Base URL of links; default is the request URL.'),
    cfg.IntOpt('max_request_body_size', default=114688,
               help='Larger bodies get 413.'),
    cfg.BoolOpt('allow_tls_terminated_listeners', default=True,
                help='Allow users to create TERMINATED_HTTPS listeners.'),
    cfg.BoolOpt('allow_ping_health_monitors', default=True,
                help='Allow users to create PING health monitors.'),
    cfg.BoolOpt('allow_prometheus_listeners', default=True,
                help='Allow users to create PROMETHEUS listeners.'),
    cfg.DictOpt('enabled_provider_drivers',
                default={'amphora': 'The lbaas amphora provider.',
                         'octavia': 'Alias of the amphora provider.',
                         'noop_driver': 'The no-op provider.'},
                help='Provider name to description.'),
    cfg.StrOpt('default_provider_driver', default='amphora',
               help='Provider of a load balancer that names none; one of '
                    'enabled_provider_drivers.'),
    cfg.IntOpt('udp_connect_min_interval_health_monitor', default=3,
               help='Smallest delay (seconds) of a UDP-CONNECT health monitor; '
                    'smaller ones are refused.'),
    cfg.StrOpt('default_listener_ciphers',
               default='TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:'
                       'TLS_AES_128_GCM_SHA256:DHE-RSA-AES256-GCM-SHA384:'
                       'DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:'
                       'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:'
                       'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:'
                       'ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-CHACHA20-POLY1305',
               help='OpenSSL cipher string of a TERMINATED_HTTPS listener that '
                    'names none.'),
    cfg.ListOpt('default_listener_tls_versions', default=['TLSv1.2', 'TLSv1.3'],
                help='TLS versions of a TERMINATED_HTTPS listener that names none.'),
    cfg.ListOpt('default_listener_alpn_protocols',
                default=['h2', 'http/1.1', 'http/1.0'],
                help='ALPN protocols of a TERMINATED_HTTPS listener that names none.'),
    cfg.StrOpt('default_pool_ciphers', default=None,
               help='OpenSSL cipher string of a TLS-enabled pool that names none; '
                    'default: default_listener_ciphers.'),
    cfg.ListOpt('default_pool_tls_versions', default=['TLSv1.2', 'TLSv1.3'],
                help='TLS versions of a TLS-enabled pool that names none.'),
    cfg.ListOpt('default_pool_alpn_protocols',
                default=['h2', 'http/1.1', 'http/1.0'],
                help='ALPN protocols of a TLS-enabled pool that names none.'),
]

listener_default_opts: list[cfg.Opt] = [
    cfg.IntOpt('timeout_client_data', default=50000,
               help='Milliseconds a client connection may be idle, for a listener '
                    'that sets none.'),
    cfg.IntOpt('timeout_member_connect', default=5000,
               help='Milliseconds to connect to a member, for a listener that sets none.'),
    cfg.IntOpt('timeout_member_data', default=50000,
               help='Milliseconds a member connection may be idle, for a listener '
                    'that sets none.'),
    cfg.IntOpt('timeout_tcp_inspect', default=0,
               help='Milliseconds to wait for more data for content inspection '
                    '(L7 rules), for a listener that sets none.'),
    cfg.IntOpt('default_connection_limit', default=50000,
               help='Octavia\'s HAProxy maxconn of a listener whose connection_limit '
                    'is -1. Not read: such a listener gets its amphora\'s whole '
                    'connection budget.'),
    cfg.BoolOpt('connection_logging', default=True,
                help='Log every connection of every listener (Octavia\'s log format, '
                     'in the amphora\'s logs/haproxy.log); false: no connection logs.'),
    cfg.IntOpt('member_drain_timeout', default=300, min=0,
               help='Seconds a removed or disabled member keeps its established '
                    'connections (no new ones) before they are closed; 0: closed at '
                    'once. Also how long an old HAProxy worker may serve after a '
                    'reload. A flavor profile\'s member_drain_timeout overrides it.'),
]

database_opts: list[cfg.Opt] = [
    cfg.StrOpt('connection', secret=True,
               help='SQLAlchemy URL; default: SQLite under state_dir.'),
    cfg.IntOpt('max_pool_size', default=10,
               help='Connections each process keeps open to a database server '
                    '(not SQLite).'),
    cfg.IntOpt('max_overflow', default=20,
               help='Connections a process may open beyond max_pool_size at busy '
                    'times (not SQLite).'),
]

# Octavia's names for the drivers that mean the same thing as ours.
DRIVER_ALIASES = {
    'compute_noop_driver': 'noop',
    'network_noop_driver': 'noop',
    'amphora_noop_driver': 'noop',
    'amphora_haproxy_rest_driver': 'rest',
    'local_cert_manager': 'local',
    'barbican_cert_manager': 'barbican',
    'compute_nova_driver': 'nova',
    'allowed_address_pairs_driver': 'neutron',
}

MAX_AMPHORA_COUNT = 8  # of an ACTIVE_ACTIVE load balancer

worker_opts: list[cfg.Opt] = [
    cfg.StrOpt('compute_driver', default='auto',
               choices=['auto', 'noop', 'netns', 'nova', 'compute_noop_driver',
                        'compute_nova_driver'],
               help='auto: netns when running as root with HAProxy, else noop. '
                    'nova: amphorae are Nova servers (docs/deploy-openstack.md). '
                    'Octavia\'s compute_noop_driver means noop, compute_nova_driver nova.'),
    cfg.StrOpt('network_driver', default='auto',
               choices=['auto', 'noop', 'netns', 'neutron', 'network_noop_driver',
                        'allowed_address_pairs_driver'],
               help='auto: netns when running as root with HAProxy, else noop. '
                    'neutron: VIPs as Neutron allowed address pairs (docs/deploy-openstack.md). '
                    'Octavia\'s network_noop_driver means noop, allowed_address_pairs_driver '
                    'neutron.'),
    cfg.StrOpt('amphora_driver', default='auto',
               choices=['auto', 'noop', 'rest', 'amphora_noop_driver',
                        'amphora_haproxy_rest_driver'],
               help='auto: rest (the amphora agent\'s API) when running as root with '
                    'HAProxy, else noop. Octavia\'s amphora_noop_driver means noop, '
                    'amphora_haproxy_rest_driver rest.'),
    cfg.StrOpt('loadbalancer_topology', default='SINGLE',
               choices=['SINGLE', 'ACTIVE_STANDBY', 'ACTIVE_ACTIVE'],
               help='Topology of a new load balancer whose flavor sets none: one '
                    'amphora, two sharing the VIP by VRRP, or amphora_count serving '
                    'it at once behind a distributor (netns network driver only).'),
    cfg.IntOpt('amphora_count', default=2, min=1, max=MAX_AMPHORA_COUNT,
               help='Amphorae of an ACTIVE_ACTIVE load balancer whose flavor sets no '
                    'amphora_count.'),
    cfg.FloatOpt('poll_interval', default=1.0,
                 help='Seconds between scans for claimable load balancers; '
                      'wake-ups make this a fallback, not the latency.'),
    cfg.IntOpt('lease_seconds', default=60,
               help='A worker that dies loses its claims after this long.'),
    cfg.IntOpt('max_attempts', default=8,
               help='Transient failures retried this many times before ERROR.'),
    cfg.FloatOpt('retry_backoff', default=1.0,
                 help='First retry delay in seconds; doubles each attempt.'),
    cfg.StrOpt('wakeup_address', default='127.0.0.1:9877',
               help='UDP address the worker listens on for nudges from the API.'),
    cfg.IntOpt('threads', default=4, min=1,
               help='Load balancers reconciled at once by one worker.'),
]

house_keeping_opts: list[cfg.Opt] = [
    cfg.IntOpt('cleanup_interval', default=30,
               help='Seconds between purges of DELETED rows.'),
    cfg.IntOpt('load_balancer_expiry_age', default=604800,
               help='Seconds a DELETED load balancer stays in the database before '
                    'it is purged.'),
    cfg.IntOpt('amphora_expiry_age', default=604800,
               help='Seconds a DELETED amphora stays in the database before it '
                    'is purged.'),
    cfg.IntOpt('cert_expiry_buffer', default=1209600, min=1,
               help='Renew an amphora certificate this many seconds before it expires.'),
    cfg.IntOpt('cert_interval', default=3600, min=1,
               help='Seconds between looks for certificates to renew.'),
    cfg.IntOpt('build_stall_age', default=300, min=60,
               help='An amphora still building this many seconds after its last '
                    'change, with no worker on its load balancer, is torn down.'),
    cfg.IntOpt('spare_amphora_pool_size', default=0, min=0,
               help='Amphorae kept built and unassigned (the warm pool): a new load '
                    'balancer takes one instead of building one. 0 turns the pool off.'),
    cfg.FloatOpt('spare_check_interval', default=2.0, min=0.1,
                 help='Seconds between looks at the warm pool: spares taken are '
                      'replaced, spares beyond the pool size or broken are deleted.'),
]

health_manager_opts: list[cfg.Opt] = [
    cfg.StrOpt('bind_ip',
               help='Address the health manager receives heartbeats on; default: '
                    '[networking] controller_ip.'),
    cfg.PortOpt('bind_port', default=5555,
                help='UDP port the health manager receives heartbeats on.'),
    cfg.ListOpt('controller_ip_port_list', default=[],
                help='host:port of every health manager; each amphora sends each '
                     'heartbeat to all of them. Default: bind_ip:bind_port.'),
    cfg.StrOpt('heartbeat_key', secret=True,
               help='HMAC key of heartbeats, the same on every controller host. '
                    'Default: a random key kept in state_dir/heartbeat.key.'),
    cfg.FloatOpt('heartbeat_interval', default=1.0, min=0.05,
                 help='Seconds between an amphora\'s heartbeats.'),
    cfg.FloatOpt('heartbeat_timeout', default=3.0, min=0.1,
                 help='An amphora silent this long is failed over; more than '
                      'heartbeat_interval.'),
    cfg.FloatOpt('health_check_interval', default=0.5, min=0.05,
                 help='Seconds between looks for silent amphorae.'),
    cfg.IntOpt('failover_threshold', min=1,
               help='Hold failovers back when at least this many amphorae are '
                    'silent at once (Octavia\'s option); unset: only the share below.'),
    cfg.FloatOpt('failover_threshold_share', default=0.5, min=0.0, max=1.0,
                 help='Hold failovers back when more than this share of the amphorae '
                      'is silent at once (the controller\'s own network is the likelier '
                      'fault); 1.0 turns the breaker off.'),
]

certificates_opts: list[cfg.Opt] = [
    cfg.IntOpt('cert_validity_time', default=2592000, min=60,
               help='Seconds an amphora\'s server certificate is valid (30 days).'),
    cfg.IntOpt('ca_validity_time', default=315360000, min=3600,
               help='Seconds the controller CA and client certificate are valid.'),
    cfg.StrOpt('cert_manager', default='local',
               choices=['local', 'barbican', 'local_cert_manager', 'barbican_cert_manager'],
               help='Where listener and pool TLS references are read: `local`, the '
                    'key-manager store lbaas serves on its own endpoint (/v1/secrets, '
                    '/v1/containers), or `barbican`, a real Barbican found in the Keystone '
                    'catalog with the [service_auth] credentials (Octavia\'s '
                    'barbican_cert_manager). Aliases: local_cert_manager, '
                    'barbican_cert_manager.'),
    cfg.StrOpt('pki_dir', default='$state_dir/pki',
               help='Where the controller CA, its client certificate and the amphorae\'s '
                    'certificates are kept. Hosts that reach each other\'s amphorae must '
                    'share one CA: copy this directory to every host (or share it).'),
    cfg.StrOpt('region_name', help='Region of the Barbican endpoint (cert_manager = barbican).'),
    cfg.StrOpt('endpoint_type', default='publicURL',
               help='Interface of the Barbican endpoint in the catalog (cert_manager = barbican).'),
]

# compute_driver = nova: Octavia's [controller_worker] amphora options, same names.
amphora_image_opts: list[cfg.Opt] = [
    cfg.StrOpt('amp_image_tag',
               help='Glance tag of the amphora image; the newest active image with it '
                    'is booted (compute_driver = nova).'),
    cfg.StrOpt('amp_image_id',
               help='Amphora image by id; takes precedence over amp_image_tag.'),
    cfg.StrOpt('amp_image_owner_id',
               help='Only images of this project are considered for amp_image_tag.'),
    cfg.StrOpt('amp_flavor_id', help='Nova flavor of amphorae.'),
    cfg.ListOpt('amp_boot_network_list', default=[],
                help='Networks an amphora boots on: the management network(s) the '
                     'controller reaches its agent and receives heartbeats on.'),
    cfg.StrOpt('amp_ssh_key_name', help='Nova keypair put into amphorae, if any.'),
    cfg.ListOpt('amp_secgroup_list', default=[],
                help='Security groups (names or ids) of the management port.'),
]

# Octavia's [nova] and [neutron] groups (the options lbaas uses).
nova_opts: list[cfg.Opt] = [
    cfg.StrOpt('region_name', help='Region of the compute and image endpoints.'),
    cfg.StrOpt('endpoint_type', default='publicURL',
               help='Interface of the compute and image endpoints in the catalog.'),
    cfg.StrOpt('availability_zone', help='Availability zone amphorae boot in.'),
    cfg.BoolOpt('enable_anti_affinity', default=False,
                help='Put the amphorae of a load balancer in one server group, so '
                     'an ACTIVE_STANDBY pair runs on two hosts.'),
    cfg.StrOpt('anti_affinity_policy', default='anti-affinity',
               choices=['anti-affinity', 'soft-anti-affinity'],
               help='Policy of those server groups.'),
]

neutron_opts: list[cfg.Opt] = [
    cfg.StrOpt('region_name', help='Region of the network endpoint.'),
    cfg.StrOpt('endpoint_type', default='publicURL',
               help='Interface of the network endpoint in the catalog.'),
]

quota_opts: list[cfg.Opt] = [
    cfg.IntOpt('default_load_balancer_quota', default=-1,
               help='Load balancers a project may have unless its quota says otherwise; '
                    '-1: unlimited.'),
    cfg.IntOpt('default_listener_quota', default=-1,
               help='Listeners a project may have unless its quota says otherwise; '
                    '-1: unlimited.'),
    cfg.IntOpt('default_member_quota', default=-1,
               help='Members a project may have unless its quota says otherwise; '
                    '-1: unlimited.'),
    cfg.IntOpt('default_pool_quota', default=-1,
               help='Pools a project may have unless its quota says otherwise; '
                    '-1: unlimited.'),
    cfg.IntOpt('default_health_monitor_quota', default=-1,
               help='Health monitors a project may have unless its quota says otherwise; '
                    '-1: unlimited.'),
    cfg.IntOpt('default_l7policy_quota', default=-1,
               help='L7 policies a project may have unless its quota says otherwise; '
                    '-1: unlimited.'),
    cfg.IntOpt('default_l7rule_quota', default=-1,
               help='L7 rules a project may have unless its quota says otherwise; '
                    '-1: unlimited.'),
]

networking_opts: list[cfg.Opt] = [
    cfg.ListOpt('reserved_ips', default=['169.254.169.254'],
                help='Addresses a member may not have (Octavia\'s option). Not read '
                     'yet: the API refuses the default address whatever this says.'),
    # The netns data plane's names and management addresses. Two services on
    # one host (a developer's `lbaas serve` and a test run) must differ in
    # all four, or they take over each other's bridges, link and routes.
    cfg.StrOpt('fabric_namespace', default='lbaas-fabric',
               help='Namespace holding the local networks\' bridges (netns driver).'),
    cfg.StrOpt('host_link', default='lbaas-mgmt',
               help='The one link in the host namespace, holding controller_ip; '
                    'at most 15 characters.'),
    cfg.StrOpt('management_cidr', default='198.19.0.0/16',
               help='Management network of the amphorae; inside 198.19.0.0/16.'),
    cfg.StrOpt('controller_ip', default='198.19.0.1',
               help='The controller\'s address on the management network.'),
    cfg.MultiStrOpt(
        'local_network',
        default=['id=5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01,'
                 'subnet_id=9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01,'
                 'name=lbaas-local,subnet_name=lbaas-local-v4,'
                 'cidr=198.18.0.0/24,gateway=198.18.0.1',
                 'id=5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01,'
                 'subnet_id=9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d02,'
                 'name=lbaas-local,subnet_name=lbaas-local-v6,'
                 'cidr=fd00:1b::/64,gateway=fd00:1b::1'],
        help='A local subnet: comma-separated key=value with id (network), '
             'subnet_id, name, subnet_name, cidr and gateway. Subnets that share '
             'a network id belong to one network. Repeat for more.'),
    # VXLAN: the local networks (not the management network) span hosts, each
    # as one VXLAN segment between the hosts' fabric namespaces.
    cfg.StrOpt('vxlan_local_ip',
               help='This host\'s underlay address: an IPv4 address inside '
                    '198.19.0.0/16 that the fabric namespace holds on '
                    'vxlan_underlay_link. Unset: no VXLAN, the local networks stay '
                    'on this host.'),
    cfg.ListOpt('vxlan_peers', default=[],
                help='The other hosts\' underlay addresses (their vxlan_local_ip); '
                     'broadcasts and unknown destinations are copied to each.'),
    cfg.StrOpt('vxlan_underlay_link',
               help='The link in the fabric namespace that carries the underlay '
                    '(put there by the operator); its MTU must be at least 1550, so '
                    'that the local networks keep an MTU of 1500.'),
    cfg.PortOpt('vxlan_port', default=4789,
                help='UDP port of the VXLAN traffic, the same on every host.'),
    cfg.IntOpt('vxlan_vni_base', default=0x100000, min=1, max=0xF00000,  # >= 2**20 VNIs left
               help='Lowest VNI used: each local network gets a VNI from '
                    'vxlan_vni_base to 16777215 derived from its id alone, so every '
                    'host with the same network ids agrees whatever the order of '
                    'their local_network lists. The same on every host.'),
    cfg.StrOpt('amphora_address_block', default='0/1',
               help='k/n: of the tenant addresses counted down from the top of a '
                    'local subnet, this host gives its amphorae those whose distance '
                    'from the top is k modulo n. Hosts whose local networks span each '
                    'other over VXLAN take the same n and different k, so no two '
                    'allocate one address.'),
]

keepalived_vrrp_opts: list[cfg.Opt] = [
    cfg.FloatOpt('vrrp_advert_int', default=0.1, min=0.01, max=40.95,
                 help='Seconds between VRRP advertisements (VRRPv3: hundredths of a '
                      'second). A backup takes over after about three missed ones '
                      '(0.1: a VIP moves in about 0.4 s); Octavia\'s default is 1.'),
    cfg.IntOpt('vrrp_check_interval', default=1, min=1,
               help='Seconds between runs of the check that HAProxy answers '
                    '(keepalived runs scripts at most once a second); Octavia: 5.'),
    cfg.IntOpt('vrrp_fail_count', default=2, min=1,
               help='Failed checks in a row before the amphora gives up the VIP.'),
    cfg.IntOpt('vrrp_success_count', default=2, min=1,
               help='Passed checks in a row before the amphora may hold the VIP again.'),
    cfg.IntOpt('vrrp_garp_refresh_interval', default=5, min=0,
               help='Seconds between gratuitous ARP / unsolicited NA refreshes from '
                    'the VIP holder; 0 sends them only on taking the VIP over.'),
    cfg.IntOpt('vrrp_garp_refresh_count', default=2, min=1,
               help='Gratuitous ARPs / unsolicited NAs sent at each refresh.'),
]

amphora_agent_opts: list[cfg.Opt] = [
    # Octavia's log offloading options: each amphora's agent forwards its logs
    # as syslog (lbaas/agent/log_forward.py); without targets they stay local.
    cfg.ListOpt('admin_log_targets', default=[],
                help='host:port list of syslog receivers for the amphorae\'s '
                     'administrative logs (HAProxy\'s and keepalived\'s own messages, '
                     'the agent\'s warnings); the first is the primary, the next ones '
                     'take over while it fails.'),
    cfg.ListOpt('tenant_log_targets', default=[],
                help='host:port list of syslog receivers for the tenant flow logs '
                     '(one line per connection); the first is the primary, the next '
                     'ones take over while it fails.'),
    cfg.IntOpt('user_log_facility', default=0, min=0, max=7,
               help='Syslog facility local0-7 of the tenant flow logs.'),
    cfg.IntOpt('administrative_log_facility', default=1, min=0, max=7,
               help='Syslog facility local0-7 of the administrative logs.'),
    cfg.StrOpt('log_protocol', default='UDP', choices=['UDP', 'TCP'], ignore_case=True,
               help='Protocol the logs are sent to their targets with.'),
    cfg.IntOpt('log_retry_count', default=5, min=-1,
               help='Times a message is tried again when no target takes it (TCP: '
                    'connection refused or lost); -1: until one does.'),
    cfg.IntOpt('log_retry_interval', default=2, min=1,
               help='Seconds between those tries, and before a failed target is '
                    'used again.'),
    cfg.IntOpt('log_queue_size', default=10000, min=1,
               help='Messages an amphora holds per kind (tenant, admin) while its '
                    'targets do not take them; beyond it the oldest are dropped.'),
    cfg.BoolOpt('forward_all_logs', default=False,
                help='Send every log of the amphora except the flow logs (also the '
                     'agent\'s informational messages) to the admin targets.'),
    cfg.BoolOpt('disable_local_log_storage', default=False,
                help='Keep no log files in the amphora: flow and administrative logs '
                     'are only sent to their targets.'),
]

driver_agent_opts: list[cfg.Opt] = [
    # Octavia's [driver_agent] names: provider drivers written for Octavia read
    # these to build octavia-lib's DriverLibrary. Served by `lbaas serve`.
    cfg.StrOpt('status_socket_path', default='$state_dir/driver-agent/status.sock',
               help='The driver agent socket for provider status updates.'),
    cfg.StrOpt('stats_socket_path', default='$state_dir/driver-agent/stats.sock',
               help='The driver agent socket for provider statistics updates.'),
    cfg.StrOpt('get_socket_path', default='$state_dir/driver-agent/get.sock',
               help='The driver agent socket for provider object look-ups.'),
    cfg.FloatOpt('status_request_timeout', default=5.0, min=0.1,
                 help='Seconds a status request may take to arrive.'),
    cfg.FloatOpt('stats_request_timeout', default=5.0, min=0.1,
                 help='Seconds a statistics request may take to arrive.'),
    cfg.FloatOpt('get_request_timeout', default=5.0, min=0.1,
                 help='Seconds a look-up request may take to arrive.'),
]

hosts_opts: list[cfg.Opt] = [
    # A data-plane host is a host whose workers build amphorae (docs/deploy-multihost.md).
    cfg.StrOpt('availability_zone',
               help='The availability zone this host serves: an AZ profile\'s '
                    '`compute_zone` picks the hosts of that zone. Unset: none.'),
    cfg.IntOpt('capacity', default=2000, min=0,
               help='Amphorae the scheduler places on this host at most; 0 takes none.'),
    cfg.FloatOpt('heartbeat_interval', default=1.0, min=0.1,
                 help='Seconds between this host\'s registrations in the database. '
                      'A host that missed two comes last for new amphorae.'),
    cfg.FloatOpt('dead_after', default=5.0, min=1.0,
                 help='A host silent this long gets no new amphorae, steps on its '
                      'amphorae are skipped (its own housekeeping sweeps them when it '
                      'returns), and those never heard from are failed over. More '
                      'than heartbeat_interval.'),
    cfg.FloatOpt('rpc_timeout', default=60.0, min=1.0,
                 help='Seconds a call to another host\'s worker may take (an amphora '
                      'build there); given up sooner once that host is dead. Needs '
                      '[DEFAULT] transport_url.'),
]

GROUPS: dict[str | None, list[cfg.Opt]] = {
    None: default_opts,
    'api_settings': api_opts,
    'haproxy_amphora': listener_default_opts,
    'database': database_opts,
    'controller_worker': worker_opts + amphora_image_opts,
    'nova': nova_opts,
    'neutron': neutron_opts,
    'house_keeping': house_keeping_opts,
    'health_manager': health_manager_opts,
    'certificates': certificates_opts,
    'quotas': quota_opts,
    'networking': networking_opts,
    'keepalived_vrrp': keepalived_vrrp_opts,
    'amphora_agent': amphora_agent_opts,
    'driver_agent': driver_agent_opts,
    'hosts': hosts_opts,
}


SERVICE_AUTH = 'service_auth'


def service_auth_opts() -> list[cfg.Opt]:
    """[service_auth] as the sample shows it: auth_type, the password plugin's
    options and the session's (Octavia's list)."""
    opts = ks_loading.get_auth_common_conf_options()[:1] + ks_loading.get_session_conf_options()
    names = {opt.name for opt in opts}
    plugin = ks_loading.get_auth_plugin_conf_options('password')
    return opts + [opt for opt in plugin if opt.name not in names]


def register() -> None:
    for group, opts in GROUPS.items():
        CONF.register_opts(opts, group=group)
    # oslo.log's options: debug, log_file, log_dir, use_syslog... (lbaas/logsetup.py).
    # Its stand-in handler for the time before setup() is Python's own last
    # resort (warnings to standard error) already: not added to every importer.
    root = logging.getLogger()
    before = list(root.handlers)
    oslo_logging.register_options(CONF)
    for handler in root.handlers[len(before):]:
        root.removeHandler(handler)
    # [service_auth]: keystoneauth1's credentials and session, with which
    # cert_manager = barbican reads Barbican (Octavia's group of that name).
    ks_loading.register_auth_conf_options(CONF, SERVICE_AUTH)
    ks_loading.register_session_conf_options(CONF, SERVICE_AUTH)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator."""
    return [(group or 'DEFAULT', opts) for group, opts in GROUPS.items()] + [
        (SERVICE_AUTH, service_auth_opts())]


DEFAULT_CONFIG_FILE = '/etc/lbaas/lbaas.conf'


def load(argv: Iterable[str] = (), config_files: list[str] | None = None,
         config_dirs: Iterable[str] = ()) -> None:
    """Parse the command line and configuration files into CONF.

    `config_files` None means DEFAULT_CONFIG_FILE if it exists; [] means none.
    Every *.conf of each of `config_dirs` is read after the files, sorted
    (oslo.config's --config-dir).
    """
    if config_files is None:
        config_files = [DEFAULT_CONFIG_FILE] if os.path.exists(DEFAULT_CONFIG_FILE) else []
    args = list(argv)
    for directory in config_dirs:
        args += ['--config-dir', directory]
    # No default directories: oslo.config would look for lbaas.conf.d in
    # ~/.lbaas, /etc and more, which a test run or a second service must not read.
    CONF(args, project='lbaas', default_config_files=config_files, default_config_dirs=[])


def state_path(*parts: str) -> str:
    path: str = os.path.join(CONF.state_dir, *parts)
    os.makedirs(os.path.dirname(path) if parts else path, mode=0o700, exist_ok=True)
    return path


def address_block() -> tuple[int, int]:
    """`[networking] amphora_address_block` as (k, n); ValueError if malformed."""
    k, n = (int(part) for part in CONF.networking.amphora_address_block.split('/'))
    if not 0 <= k < n:
        raise ValueError(CONF.networking.amphora_address_block)
    return k, n


def pki_dir() -> str:
    """`[certificates] pki_dir`, made (0700) if missing."""
    path: str = CONF.certificates.pki_dir
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def database_url() -> str:
    url: str = CONF.database.connection or 'sqlite:///' + state_path('lbaas.sqlite')
    return url


def health_manager_bind() -> tuple[str, int]:
    """(address, port) the health manager receives heartbeats on."""
    hm = CONF.health_manager
    return hm.bind_ip or CONF.networking.controller_ip, hm.bind_port


def health_manager_addresses() -> list[tuple[str, int]]:
    """Every health manager an amphora sends its heartbeats to."""
    listed = CONF.health_manager.controller_ip_port_list
    return [_address(item) for item in listed] if listed else [health_manager_bind()]


def _address(item: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (address, port); ValueError if it is not."""
    host, _, port = item.strip().rpartition(':')
    address = str(ipaddress.ip_address(host.strip('[]')))
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError('port %d out of range' % number)
    return address, number


# DESIGN section 5: the only addresses lbaas gives out (tenant/VIP subnets,
# the management network); nothing of ours may route off the machine.
TENANT_PLAN = (ipaddress.ip_network('198.18.0.0/16'), ipaddress.ip_network('fd00:1b::/48'))
MANAGEMENT_PLAN = ipaddress.ip_network('198.19.0.0/16')
NEUTRON_NETWORK_DRIVERS = ('neutron', 'allowed_address_pairs_driver')


def in_plan(cidr: str, plan: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    network = ipaddress.ip_network(cidr, strict=False)
    return any(
        network.version == p.version and network.subnet_of(p)  # type: ignore[arg-type]
        for p in plan
    )


class ConfigError(Exception):
    """A setting that cannot work; the message names the option."""


def validate() -> None:
    """Check what oslo.config's types cannot, before any service starts."""
    hm = CONF.health_manager
    for item in hm.controller_ip_port_list:
        try:
            _address(item)
        except ValueError as exc:
            raise ConfigError('[health_manager] controller_ip_port_list: %r is not an '
                              'IP address and port (%s)' % (item, exc)) from None
    if hm.bind_ip:
        try:
            ipaddress.ip_address(hm.bind_ip)
        except ValueError:
            raise ConfigError('[health_manager] bind_ip: %r is not an IP address'
                              % hm.bind_ip) from None
    if hm.heartbeat_timeout <= hm.heartbeat_interval:
        raise ConfigError('[health_manager] heartbeat_timeout (%s) must be more than '
                          'heartbeat_interval (%s)' % (hm.heartbeat_timeout,
                                                       hm.heartbeat_interval))
    if CONF.hosts.dead_after <= CONF.hosts.heartbeat_interval:
        raise ConfigError('[hosts] dead_after (%s) must be more than heartbeat_interval (%s)'
                          % (CONF.hosts.dead_after, CONF.hosts.heartbeat_interval))
    for spec in CONF.networking.local_network:
        try:
            subnet = LocalSubnet(spec)
        except (KeyError, ValueError) as exc:
            raise ConfigError('[networking] local_network: %r: %s' % (spec, exc)) from None
        # Under Neutron these are the cloud's VIP subnets, not netns bridges.
        neutron = CONF.controller_worker.network_driver in NEUTRON_NETWORK_DRIVERS
        if not neutron and not in_plan(str(subnet.cidr), TENANT_PLAN):
            raise ConfigError('[networking] local_network: %s is outside the address plan (%s)'
                              % (subnet.cidr, ', '.join(map(str, TENANT_PLAN))))
    workers = CONF.controller_worker
    if workers.loadbalancer_topology == 'ACTIVE_ACTIVE' and (
            workers.network_driver in NEUTRON_NETWORK_DRIVERS):
        raise ConfigError('[controller_worker] loadbalancer_topology: ACTIVE_ACTIVE needs the '
                          'netns network driver\'s distributor; network_driver %s has none'
                          % workers.network_driver)
    _check_management(CONF.networking)
    _check_vxlan(CONF.networking)
    _check_log_targets(CONF.amphora_agent)


def _check_management(net: cfg.ConfigOpts.GroupAttr) -> None:
    try:
        management = ipaddress.ip_network(net.management_cidr, strict=False)
        controller = ipaddress.ip_address(net.controller_ip)
    except ValueError as exc:
        raise ConfigError('[networking] management_cidr/controller_ip: %s' % exc) from None
    if not in_plan(str(management), [MANAGEMENT_PLAN]):
        raise ConfigError('[networking] management_cidr: %s is outside the address plan (%s)'
                          % (management, MANAGEMENT_PLAN))
    if controller not in management:
        raise ConfigError('[networking] controller_ip: %s is not in management_cidr %s'
                          % (controller, management))


def _check_vxlan(net: cfg.ConfigOpts.GroupAttr) -> None:
    """The VXLAN underlay: IPv4 addresses in the management plan (they live
    in the fabric namespaces only) and a link name the kernel can take."""
    for option in ('vxlan_port', 'vxlan_vni_base'):  # oslo.config checks these when read
        try:
            getattr(net, option)
        except ValueError as exc:
            raise ConfigError('[networking] %s: %s' % (option, exc)) from None
    try:
        address_block()
    except ValueError:
        raise ConfigError('[networking] amphora_address_block: %r is not k/n with 0 <= k < n'
                          % net.amphora_address_block) from None
    if not net.vxlan_local_ip:
        if net.vxlan_peers:
            raise ConfigError('[networking] vxlan_local_ip: unset, yet vxlan_peers is '
                              'set; VXLAN needs this host\'s underlay address')
        return
    local = _underlay_address('vxlan_local_ip', net.vxlan_local_ip)
    for peer in net.vxlan_peers:
        if _underlay_address('vxlan_peers', peer) == local:
            raise ConfigError('[networking] vxlan_peers: %s is vxlan_local_ip, this '
                              'host itself' % peer)
    link = net.vxlan_underlay_link or ''
    # The kernel's rule for interface names (dev_valid_name).
    bad = link in ('.', '..') or any(c in '/:' or c.isspace() for c in link)
    if bad or not 0 < len(link.encode()) <= 15:
        raise ConfigError('[networking] vxlan_underlay_link: %r is not a link name (1-15 '
                          'bytes, no "/", ":" or spaces); VXLAN needs it' % link)


def _underlay_address(option: str, given: str) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.ip_address(given.strip())
    except ValueError:
        raise ConfigError('[networking] %s: %r is not an IP address' % (option, given)) from None
    if not isinstance(address, ipaddress.IPv4Address) or address not in MANAGEMENT_PLAN:
        raise ConfigError('[networking] %s: %s is not an IPv4 address inside the address '
                          'plan (%s)' % (option, address, MANAGEMENT_PLAN))
    return address


def _check_log_targets(agent: cfg.ConfigOpts.GroupAttr) -> None:
    for option in ('admin_log_targets', 'tenant_log_targets'):
        for item in getattr(agent, option):
            try:
                _address(item)
            except ValueError as exc:
                raise ConfigError('[amphora_agent] %s: %r is not an IP address and port '
                                  '(%s)' % (option, item, exc)) from None


def log_targets(option: str) -> list[tuple[str, int]]:
    """(address, port) of each `[amphora_agent] admin_log_targets` or
    `tenant_log_targets` entry, in order."""
    return [_address(item) for item in getattr(CONF.amphora_agent, option)]


def heartbeat_key() -> bytes:
    """The heartbeat HMAC key: configured, or made once and kept in the state dir."""
    configured: str | None = CONF.health_manager.heartbeat_key
    if configured:
        return configured.encode('utf-8')
    path = state_path('heartbeat.key')
    if not os.path.exists(path):  # first use on this host: a random key
        staged = '%s.%d' % (path, os.getpid())
        with open(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(staged, path)  # whole or not at all; a concurrent first use wins
        except FileExistsError:
            pass
        finally:
            os.unlink(staged)
    with open(path) as f:
        return f.read().strip().encode('utf-8')


class LocalSubnet:
    """One configured local subnet, shaped as the Neutron API shows it."""

    def __init__(self, spec: str) -> None:
        fields = dict(item.split('=', 1) for item in spec.split(',') if item)
        self.network_id = fields['id']
        self.id = fields['subnet_id']
        self.network_name = fields.get('name', self.network_id)
        self.name = fields.get('subnet_name', self.id)
        self.cidr = ipaddress.ip_network(fields['cidr'], strict=False)
        gateway = fields.get('gateway')
        self.gateway = ipaddress.ip_address(gateway) if gateway else None

    @property
    def ip_version(self) -> int:
        return self.cidr.version


def local_subnets() -> list[LocalSubnet]:
    return [LocalSubnet(spec) for spec in CONF.networking.local_network]


register()
