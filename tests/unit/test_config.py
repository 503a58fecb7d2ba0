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
]


@pytest.mark.parametrize('name, value, group, named', BAD, ids=[b[0] for b in BAD])
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


def test_a_service_does_not_start_on_a_bad_configuration(tmp_path):
    conf = tmp_path / 'lbaas.conf'
    conf.write_text('[health_manager]\nheartbeat_interval = 5\nheartbeat_timeout = 2\n')
    done = subprocess.run(
        [sys.executable, '-m', 'lbaas.cli', 'health-manager', '--config-file', str(conf),
         '--state-dir', str(tmp_path / 'state')],
        capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert '[health_manager] heartbeat_timeout' in done.stderr
