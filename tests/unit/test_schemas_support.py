"""Shared helpers and minimal valid bodies for the schema tests (no tests here)."""
import pydantic
import pytest

from lbaas.schemas.common import format_validation_error

UUID1 = '11111111-2222-3333-4444-555555555555'
UUID2 = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee'


def error_message(model, body, root=None) -> str:
    """Validate `body` with `model`, expect failure, return the API message."""
    with pytest.raises(pydantic.ValidationError) as info:
        model.model_validate(body)
    return format_validation_error(info.value, root)


def valid(model, body):
    return model.model_validate(body)


def with_(base: dict, **changes) -> dict:
    """A copy of `base` with `changes` applied; a value of ... deletes the key."""
    body = dict(base)
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body


LB = {'vip_subnet_id': UUID1}
LISTENER = {'loadbalancer_id': UUID1, 'protocol': 'HTTP', 'protocol_port': 80}
TLS_LISTENER = dict(LISTENER, protocol='TERMINATED_HTTPS', protocol_port=443,
                    default_tls_container_ref='https://kv/secrets/cert')
POOL = {'loadbalancer_id': UUID1, 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN'}
GRAPH_POOL = {'name': 'web', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN'}
MEMBER = {'address': '198.18.0.10', 'protocol_port': 8080}
HM = {'pool_id': UUID1, 'type': 'TCP', 'delay': 5, 'timeout': 3, 'max_retries': 3}
HTTP_HM = dict(HM, type='HTTP')
L7POLICY = {'listener_id': UUID1, 'action': 'REJECT'}
L7RULE = {'type': 'PATH', 'compare_type': 'STARTS_WITH', 'value': '/api'}
FLAVOR = {'name': 'gold', 'flavor_profile_id': UUID1}
FLAVOR_PROFILE = {'name': 'fp', 'provider_name': 'amphora',
                  'flavor_data': '{"loadbalancer_topology": "SINGLE"}'}
AZ = {'name': 'az1', 'availability_zone_profile_id': UUID1}
AZ_PROFILE = {'name': 'azp', 'provider_name': 'amphora',
              'availability_zone_data': '{"compute_zone": "nova"}'}
