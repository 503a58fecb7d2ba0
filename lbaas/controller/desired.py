"""The configuration bundle an LB's amphorae should run.

Until the HAProxy renderer is wired to the database (the data-plane issue),
the bundle carries a canonical description of the LB's desired state, so the
digest changes exactly when something an amphora would serve changes.
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


def bundle(lb):
    state = _stable(views.full_graph(lb))
    return wire.ConfigBundle(haproxy_cfg=json.dumps(state, sort_keys=True), files={},
                             keepalived_cfg=None)
