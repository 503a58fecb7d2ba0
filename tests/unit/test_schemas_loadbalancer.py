"""Load balancer request schemas, including graph (single-call) create."""
import copy

import pytest

from lbaas.schemas.common import ValidationFailure
from lbaas.schemas.loadbalancer import (
    UPDATE_NULL_DEFAULTS,
    LoadBalancerCreate,
    LoadBalancerUpdate,
    graph_pool_definitions,
)
from tests.unit.test_schemas_support import (
    GRAPH_POOL,
    LB,
    MEMBER,
    UUID1,
    UUID2,
    error_message,
    valid,
    with_,
)

VIP_MISSING = ('Validation failure: VIP must contain one of: vip_port_id, vip_network_id, '
               'vip_subnet_id.')


def test_create_defaults():
    created = valid(LoadBalancerCreate, LB)
    assert (created.admin_state_up, created.vip_sg_ids, created.additional_vips) == (True, [], [])
    assert (created.listeners, created.pools, created.tags) == ([], [], [])
    assert (created.provider, created.flavor_id, created.availability_zone) == (None, None, None)
    assert created.is_graph is False


@pytest.mark.parametrize('vip_field', ['vip_port_id', 'vip_network_id', 'vip_subnet_id'])
def test_any_one_vip_field_is_enough(vip_field):
    assert getattr(valid(LoadBalancerCreate, {vip_field: UUID1}), vip_field) == UUID1


@pytest.mark.parametrize('body', [{}, {'vip_address': '198.18.0.9'},
                                  {'vip_subnet_id': None, 'vip_qos_policy_id': UUID1}])
def test_a_vip_field_is_required(body):
    assert error_message(LoadBalancerCreate, body) == VIP_MISSING


@pytest.mark.parametrize('field,good,bad', [
    ('vip_address', ['198.18.0.9', 'fd00:1b::9'], ['198.18.0.256', 'auto']),
    ('vip_qos_policy_id', [UUID2], ['qos']),
    ('vip_sg_ids', [[UUID1, UUID2], []], [['sg'], UUID1]),
    ('provider', ['p' * 64, 'amphora'], ['p' * 65]),
    ('availability_zone', ['z' * 255], ['z' * 256]),
    ('flavor_id', [UUID2], ['gold']),
    ('description', ['d' * 255], ['d' * 256]),
])
def test_field_boundaries(field, good, bad):
    for value in good:
        assert getattr(valid(LoadBalancerCreate, with_(LB, **{field: value})), field) == value
    for value in bad:
        assert f'field/attribute {field}' in error_message(LoadBalancerCreate,
                                                             with_(LB, **{field: value}))


def test_additional_vips():
    vips = [{'subnet_id': UUID2, 'ip_address': 'fd00:1b::5'}, {'subnet_id': UUID2}]
    assert valid(LoadBalancerCreate, with_(LB, additional_vips=vips)).additional_vips[0].ip_address
    assert error_message(LoadBalancerCreate, with_(LB, additional_vips=[{'ip_address': '::1'}])
                         ).startswith('Invalid input for field/attribute additional_vips[0].'
                                      'subnet_id. ')
    assert 'Unknown attribute' in error_message(
        LoadBalancerCreate, with_(LB, additional_vips=[{'subnet_id': UUID2, 'x': 1}]))


def test_update():
    update = valid(LoadBalancerUpdate, {'vip_sg_ids': None, 'vip_qos_policy_id': None})
    assert update.model_dump(exclude_unset=True) == {'vip_sg_ids': None,
                                                    'vip_qos_policy_id': None}
    for field in ('vip_address', 'vip_subnet_id', 'provider', 'listeners',
                  'project_id', 'availability_zone'):
        assert 'Unknown attribute' in error_message(LoadBalancerUpdate, {field: None})
    # ours: between ACTIVE_ACTIVE flavors (the service refuses the rest with a 400)
    flavor = valid(LoadBalancerUpdate, {'flavor_id': '6e4b8a8e-9c1f-4e84-8f2c-0c1a5b0f2d11'})
    assert flavor.model_dump(exclude_unset=True) == {
        'flavor_id': '6e4b8a8e-9c1f-4e84-8f2c-0c1a5b0f2d11'}
    assert set(UPDATE_NULL_DEFAULTS) <= set(LoadBalancerUpdate.model_fields)


# --- graph create ---------------------------------------------------------------
def graph(**changes):
    """The graph of reference 1.8: a listener with an inline default pool, an L7
    policy redirecting to a top-level pool by name, and that pool with an HM."""
    body = with_(LB, listeners=[{
        'name': 'http', 'protocol': 'HTTP', 'protocol_port': 80,
        'default_pool': dict(GRAPH_POOL, members=[MEMBER]),
        'l7policies': [{'action': 'REDIRECT_TO_POOL', 'redirect_pool': {'name': 'api'},
                        'rules': [{'type': 'PATH', 'compare_type': 'STARTS_WITH',
                                   'value': '/api'}]}]}],
        pools=[{'name': 'api', 'protocol': 'HTTP', 'lb_algorithm': 'LEAST_CONNECTIONS',
                'healthmonitor': {'type': 'HTTP', 'delay': 5, 'timeout': 3, 'max_retries': 2},
                'members': [MEMBER]}])
    return copy.deepcopy(with_(body, **changes))  # tests edit it in place


def test_full_graph_validates():
    created = valid(LoadBalancerCreate, graph())
    listener = created.listeners[0]
    assert created.is_graph
    assert listener.default_pool.members[0].weight == 1
    assert listener.l7policies[0].redirect_pool.is_reference
    assert listener.l7policies[0].rules[0].value == '/api'
    assert created.pools[0].healthmonitor.url_path == '/'
    assert [p.name for p in graph_pool_definitions(created)] == ['api', 'web']


@pytest.mark.parametrize('path,field', [
    (('listeners', 0), 'loadbalancer_id'),
    (('listeners', 0), 'project_id'),
    (('pools', 0), 'loadbalancer_id'),
    (('pools', 0, 'healthmonitor'), 'pool_id'),
    (('pools', 0, 'members', 0), 'tenant_id'),
    (('listeners', 0, 'l7policies', 0), 'listener_id'),
    (('listeners', 0, 'l7policies', 0, 'rules', 0), 'project_id'),
])
def test_nested_objects_carry_no_parent_ids(path, field):
    body = graph()
    target = body
    for step in path:
        target = target[step]
    target[field] = UUID1
    assert 'Unknown attribute' in error_message(LoadBalancerCreate, body)


def test_nested_rules_are_enforced():
    body = graph()
    body['pools'][0]['protocol'] = 'UDP'  # an HTTP monitor is fine on UDP, HTTP-only keys not
    body['pools'][0]['healthmonitor']['type'] = 'HTTPS'
    assert error_message(LoadBalancerCreate, body).startswith(
        'Validation failure: The associated pool protocol is UDP')


def resolve(body):
    return graph_pool_definitions(LoadBalancerCreate.model_validate(body))


@pytest.mark.parametrize('changes,message', [
    ({'pools': []}, "Pool 'api' was referenced but no full definition was found."),
    ({'pools': [dict(GRAPH_POOL), {'name': 'api', 'protocol': 'TCP',
                                   'lb_algorithm': 'SOURCE_IP'}]},
     'Pool names must be unique when creating a fully populated loadbalancer.'),
    ({'pools': [{'name': 'api'}]},
     "Pool definition for 'api' missing required attribute: protocol"),
])
def test_graph_pool_resolution_errors(changes, message):
    with pytest.raises(ValidationFailure) as info:
        resolve(graph(**changes))
    assert info.value.message == f'Validation failure: {message}'


def test_listener_may_reference_a_top_level_pool_by_name():
    body = graph()
    body['listeners'][0]['default_pool'] = {'name': 'api'}
    assert [p.name for p in resolve(body)] == ['api']


def test_inline_pools_must_be_named():
    body = graph()
    del body['listeners'][0]['default_pool']['name']
    assert error_message(LoadBalancerCreate, body) == (
        'Validation failure: Pools must be named when creating a fully populated '
        'loadbalancer.')
