"""The one API-name map per resource: its names resolve, and its sets agree."""
import pytest

from lbaas.db import models
from lbaas.schemas import fields

RESOURCES = [(fields.LOADBALANCER, models.LoadBalancer), (fields.LISTENER, models.Listener),
             (fields.POOL, models.Pool), (fields.MEMBER, models.Member),
             (fields.HEALTHMONITOR, models.HealthMonitor), (fields.L7POLICY, models.L7Policy),
             (fields.L7RULE, models.L7Rule), (fields.AMPHORA, models.Amphora)]


@pytest.mark.parametrize(('own', 'model'), RESOURCES)
def test_every_name_resolves_to_a_model_attribute(own: fields.Fields, model: type) -> None:
    for _, attr in own.common + own.pairs + own.filters():
        assert hasattr(model, attr), attr
    assert set(own.renamed) <= set(own.shown)
    assert own.unfiltered | own.read_only <= set(own.shown)


def test_vip_names_resolve_on_the_vip_row() -> None:
    assert all(hasattr(models.Vip, attr) for attr in fields.VIP.values())


def test_written_and_filtered_names() -> None:
    assert fields.MEMBER.written == {'name', 'address', 'protocol_port', 'weight', 'backup',
                                     'subnet_id', 'monitor_address', 'monitor_port',
                                     'admin_state_up'}
    assert fields.MEMBER.attr('address') == 'ip_address'
    assert fields.MEMBER.attr('admin_state_up') == 'enabled'
    filters = dict(fields.LISTENER.filters())
    assert filters['tenant_id'] == 'project_id'
    assert filters['loadbalancer_id'] == filters['load_balancer_id'] == 'load_balancer_id'
    assert 'insert_headers' not in filters and 'tags' not in filters
    assert dict(fields.AMPHORA.filters())['loadbalancer_id'] == 'load_balancer_id'
    assert 'tenant_id' not in dict(fields.AMPHORA.filters())
