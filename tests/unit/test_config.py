"""A bad configuration stops the service at start, naming the option."""
import subprocess
import sys

import pytest

from lbaas import config

BAD = [
    ('controller_ip_port_list', ['198.19.0.1'], 'health_manager',
     '[health_manager] controller_ip_port_list'),
    ('controller_ip_port_list', ['hm.example:5555'], 'health_manager',
     '[health_manager] controller_ip_port_list'),
    ('bind_ip', 'not-an-ip', 'health_manager', '[health_manager] bind_ip'),
    ('heartbeat_timeout', 1.0, 'health_manager', '[health_manager] heartbeat_timeout'),
    ('local_network', ['id=x,cidr=198.18.0.0/24'], 'networking', '[networking] local_network'),
    ('local_network', ['id=x,subnet_id=y,cidr=fd00:99::/64'], 'networking',
     '[networking] local_network: fd00:99::/64 is outside the address plan'),
    ('management_cidr', '10.0.0.0/24', 'networking', '[networking] management_cidr'),
    ('controller_ip', '198.18.0.1', 'networking', '[networking] controller_ip'),
]


@pytest.mark.parametrize('name, value, group, named', BAD)
def test_each_bad_value_is_refused_by_name(name, value, group, named):
    config.CONF.set_override(name, value, group)
    try:
        with pytest.raises(config.ConfigError, match=named.replace('[', r'\[')):
            config.validate()
    finally:
        config.CONF.clear_override(name, group)


def test_good_values_pass():
    config.CONF.set_override('controller_ip_port_list', ['198.19.0.1:5555', '[fd00:1b::2]:5556'],
                             'health_manager')
    try:
        config.validate()
        assert config.health_manager_addresses() == [('198.19.0.1', 5555), ('fd00:1b::2', 5556)]
    finally:
        config.CONF.clear_override('controller_ip_port_list', 'health_manager')


@pytest.mark.parametrize('service, text, named', [
    ('health-manager', '[health_manager]\nheartbeat_interval = 5\nheartbeat_timeout = 2\n',
     '[health_manager] heartbeat_timeout'),
    ('serve', '[networking]\nlocal_network = id=n,subnet_id=s,cidr=fd00:99::/64\n',
     '[networking] local_network'),
], ids=['health-manager', 'serve'])
def test_a_service_does_not_start_on_a_bad_configuration(tmp_path, service, text, named):
    conf = tmp_path / 'lbaas.conf'
    conf.write_text(text)
    done = subprocess.run(
        [sys.executable, '-m', 'lbaas.cli', service, '--noop', '--config-file', str(conf),
         '--state-dir', str(tmp_path / 'state')],
        capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert named in done.stderr
    assert not (tmp_path / 'state' / 'lbaas.sqlite').exists()  # nothing was started


@pytest.mark.parametrize('option, octavia, ours', [
    ('compute_driver', 'compute_noop_driver', 'noop'),
    ('network_driver', 'network_noop_driver', 'noop'),
    ('amphora_driver', 'amphora_noop_driver', 'noop'),
    ('amphora_driver', 'amphora_haproxy_rest_driver', 'rest'),
])
def test_octavias_driver_names_mean_ours(option, octavia, ours):
    from lbaas.drivers import registry
    config.CONF.set_override(option, octavia, 'controller_worker')
    try:
        assert registry.driver_name(option) == ours
    finally:
        config.CONF.clear_override(option, 'controller_worker')
