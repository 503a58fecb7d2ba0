"""Agents forked by the zygote (lbaas/agent/zygote.py) on the real netns
drivers: each runs in its amphora's namespace with that namespace's /sys, as
under `ip netns exec`; they outlive the zygote; a new one replaces a zygote
that ended; and an agent still starts, as its own process, when the zygote
cannot fork it."""

import logging
import os
import uuid

from lbaas import wire
from lbaas.drivers.netns import netlink, processes
from lbaas.drivers.netns.zygote import ZygoteError

LB_ID = str(uuid.uuid4())


def _parent(pid):
    with open('/proc/%d/stat' % pid) as f:
        return int(f.read().rpartition(')')[2].split()[1])


def _agent(real_env, amphora_id):
    """The running agent's pid, once it answers."""
    real_env.build(amphora_id, LB_ID, wait_agent=True)
    record = real_env.compute.store.load(amphora_id)
    pid = real_env.compute._agent_pid(record)
    assert pid is not None, real_env.agent_console(amphora_id)
    return pid, record


def test_an_agent_is_forked_into_its_namespace_and_outlives_the_zygote(real_env):
    compute = real_env.compute
    first = str(uuid.uuid4())
    pid, record = _agent(real_env, first)
    zygote = compute.zygote.pid
    assert _parent(pid) == zygote
    assert processes.process_namespace(pid) == processes.namespace_identity(record.namespace)
    # Its own /sys, as `ip netns exec` mounts it: the namespace's links only.
    links = set(os.listdir('/proc/%d/root/sys/class/net' % pid))
    assert links == set(netlink.link_names(record.namespace)), links
    assert real_env.fabric.host_link not in links
    compute.zygote.close()
    assert not processes.process_running(zygote)
    real_env.client.wait_ready(first, record.management_ip, wire.DEFAULT_PORT, 5.0)
    assert compute._agent_pid(record) == pid
    second, _ = _agent(real_env, str(uuid.uuid4()))  # a new zygote forks it
    assert compute.zygote.pid not in (None, zygote)
    assert _parent(second) == compute.zygote.pid
    compute.delete(compute.compute_id_for(first))
    assert not processes.process_running(pid)


def test_an_agent_starts_as_its_own_process_when_the_zygote_cannot_fork_it(
    real_env, monkeypatch, caplog
):
    def refuse(*args, **kwargs):
        raise ZygoteError('no fork today')

    monkeypatch.setattr(real_env.compute.zygote, 'spawn', refuse)
    amphora_id = str(uuid.uuid4())
    with caplog.at_level(logging.WARNING, logger='lbaas.drivers.netns.compute'):
        pid, _ = _agent(real_env, amphora_id)
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        assert b'lbaas.agent\0--amphora-id\0' + amphora_id.encode() in f.read()
    assert 'no fork today; starting its agent as a process of its own' in caplog.text
