"""A canonical description of an LB's desired state, for the noop amphora.

Real amphorae get rendered HAProxy configurations (drivers/amphora/driver.py);
the noop amphora gets this, whose digest changes exactly when something an
amphora would serve changes, so the push-only-on-change logic is exercised
on the noop drivers too.
"""
import json

from lbaas import wire
from lbaas.schemas import views

VOLATILE = {'provisioning_status', 'operating_status', 'created_at', 'updated_at'}


def _stable(value):
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def canonical_bundle(lb):
    state = _stable(views.full_graph(lb))
    return wire.ConfigBundle(haproxy_cfg=json.dumps(state, sort_keys=True), files={},
                             keepalived_cfg=None)
