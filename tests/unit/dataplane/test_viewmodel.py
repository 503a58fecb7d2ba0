"""The view-model: immutable, checked, friendly to plain Octavia strings."""

from __future__ import annotations

import dataclasses

import pytest

from lbaas.dataplane.viewmodel import (
    HealthMonitorView,
    ListenerView,
    LoadBalancerView,
    MonitorType,
    PeerView,
    PoolView,
    Protocol,
    enabled_headers,
)


def test_plain_strings_become_enums_and_lists_become_tuples() -> None:
    listener = ListenerView(
        id="l",
        protocol="TERMINATED_HTTPS",
        port=443,
        allowed_cidrs=["198.18.0.0/16"],
        insert_headers=["X-Forwarded-For"],
    )
    assert listener.protocol is Protocol.TERMINATED_HTTPS
    assert listener.allowed_cidrs == ("198.18.0.0/16",)
    assert listener.insert_headers == ("X-Forwarded-For",)
    assert HealthMonitorView("TLS-HELLO", 1, 1, 1).type is MonitorType.TLS_HELLO


def test_views_are_frozen_and_hashable() -> None:
    pool = PoolView(id="p", protocol="TCP", lb_algorithm="ROUND_ROBIN", members=[])
    with pytest.raises(dataclasses.FrozenInstanceError):
        pool.id = "q"  # type: ignore[misc]
    assert hash(pool) == hash(PoolView(id="p", protocol="TCP", lb_algorithm="ROUND_ROBIN"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"protocol": "UDP", "lb_algorithm": "ROUND_ROBIN"},
        {"protocol": "TCP", "lb_algorithm": "WEIGHTED"},
    ],
)
def test_unknown_values_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PoolView(id="p", **kwargs)


def test_http_version_accepts_octavia_floats() -> None:
    assert HealthMonitorView("HTTP", 1, 1, 1, http_version=1.1).http_version == "1.1"
    assert HealthMonitorView("HTTP", 1, 1, 1, http_version="1.0").http_version == "1.0"


def test_local_peer_must_be_one_of_the_peers() -> None:
    peers = [PeerView("a", "198.19.0.1"), PeerView("b", "198.19.0.2")]
    LoadBalancerView(id="lb", project_id="p", vips=["198.18.0.1"], peers=peers, local_peer="a")
    with pytest.raises(ValueError):
        LoadBalancerView(id="lb", project_id="p", vips=["198.18.0.1"], peers=peers, local_peer="c")


def test_enabled_headers_reads_octavia_insert_headers() -> None:
    headers = {"X-Forwarded-For": "true", "X-Forwarded-Port": "False", "X-Forwarded-Proto": "TRUE"}
    assert enabled_headers(headers) == ("X-Forwarded-For", "X-Forwarded-Proto")
