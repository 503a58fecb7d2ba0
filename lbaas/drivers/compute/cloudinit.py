"""The cloud-init user data that makes a Nova server an amphora.

It gives the agent what the netns compute driver gives it on its command
line and in its state directory (lbaas/drivers/netns/compute.py): the
amphora id, its server certificate and key with the controller's CA, the
heartbeat key and health manager addresses, and the `[amphora_agent]` log
offloading settings. It writes them with `write_files`, installs a systemd
unit running `lbaas agent` and starts it. The image must have lbaas
installed (`lbaas` on PATH), HAProxy and keepalived (docs/deploy-openstack.md).

The document is `#cloud-config` followed by JSON, which YAML reads as is.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import Any

from lbaas import wire
from lbaas.drivers import agent_options

AMPHORA_STATE_ROOT = '/var/lib/lbaas/amphorae'  # inside the amphora
AGENT_UNIT = '/etc/systemd/system/lbaas-agent.service'
AGENT_COMMAND = ('/usr/bin/env', 'lbaas', 'agent')
AGENT_BIND = '[::]'  # every address; the management security groups guard it
HEARTBEAT_KEY_FILE = 'heartbeat.key'
MAX_USER_DATA = 65535  # Nova's limit, base64 encoded


@dataclasses.dataclass(frozen=True)
class AgentFiles:
    """What the amphora's agent is given at boot."""

    amphora_id: str
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    heartbeat_key: bytes


def runtime_dir(amphora_id: str) -> str:
    return '%s/%s' % (AMPHORA_STATE_ROOT, amphora_id)


def agent_command(amphora_id: str, port: int = wire.DEFAULT_PORT) -> list[str]:
    state_dir = runtime_dir(amphora_id)
    return [
        *AGENT_COMMAND,
        '--amphora-id', amphora_id,
        '--state-dir', state_dir,
        '--bind', agent_options.host_port(AGENT_BIND.strip('[]'), port),
        *agent_options.log_options(),
        *agent_options.heartbeat_options('%s/%s' % (state_dir, HEARTBEAT_KEY_FILE)),
    ]  # fmt: skip


def _unit(command: list[str]) -> str:
    return '\n'.join(
        [
            '[Unit]',
            'Description=lbaas amphora agent',
            'After=network-online.target',
            'Wants=network-online.target',
            '',
            '[Service]',
            'ExecStart=%s' % ' '.join(command),  # no argument has a space or quote
            'Restart=always',
            'RestartSec=1',
            '',
            '[Install]',
            'WantedBy=multi-user.target',
            '',
        ]
    )


def _file(path: str, content: bytes, permissions: str) -> dict[str, Any]:
    return {
        'path': path,
        'encoding': 'b64',
        'content': base64.b64encode(content).decode('ascii'),
        'permissions': permissions,
        'owner': 'root:root',
    }


def user_data(files: AgentFiles, port: int = wire.DEFAULT_PORT) -> str:
    """The `#cloud-config` document for this amphora."""
    state_dir = runtime_dir(files.amphora_id)
    command = agent_command(files.amphora_id, port)
    document = {
        'write_files': [
            _file('%s/%s' % (state_dir, wire.CA_FILE), files.ca_pem, '0644'),
            _file('%s/%s' % (state_dir, wire.CERT_FILE), files.cert_pem, '0644'),
            _file('%s/%s' % (state_dir, wire.KEY_FILE), files.key_pem, '0600'),
            _file('%s/%s' % (state_dir, HEARTBEAT_KEY_FILE), files.heartbeat_key, '0600'),
            _file(AGENT_UNIT, _unit(command).encode('utf-8'), '0644'),
        ],
        'runcmd': [
            ['chmod', '0700', state_dir],
            ['systemctl', 'daemon-reload'],
            ['systemctl', 'enable', '--now', 'lbaas-agent.service'],
        ],
    }
    return '#cloud-config\n' + json.dumps(document, indent=1, sort_keys=True) + '\n'


def encoded(text: str) -> str:
    """Base64, as Nova's `user_data` takes it; too large is a ValueError."""
    data = base64.b64encode(text.encode('utf-8')).decode('ascii')
    if len(data) > MAX_USER_DATA:
        raise ValueError(
            'user data is %d bytes encoded; Nova takes %d' % (len(data), MAX_USER_DATA)
        )
    return data
