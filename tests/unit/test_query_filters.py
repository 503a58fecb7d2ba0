"""List filter values converted to their column's type (api/query.py)."""
import datetime

import pytest
from sqlalchemy.dialects import postgresql

from lbaas.api import errors, query
from lbaas.db import models

SECOND = datetime.datetime(2026, 12, 2, 17, 19, 22)


@pytest.mark.parametrize('raw', [
    '2026-12-02T17:19:22', '2026-12-02T17:19:22.5', '2026-12-02T17:19:22.999999',
    '2026-12-02T17:19:22Z', '2026-12-02T17:19:22.123Z', '2026-12-02T17:19:22+00:00',
    '2026-12-02T18:19:22+01:00', '2026-12-02T12:49:22.7-04:30', '2026-12-02 17:19:22',
    ' 2026-12-02T17:19:22 ',
])
def test_iso_forms_give_naive_utc_whole_seconds(raw):
    assert query.parse_datetime(raw) == SECOND


@pytest.mark.parametrize('raw', ['', 'now', '2026-13-01T00:00:00', '2026-12-02T24:00:01',
                                 '02/12/2026', '2026-12-02T17:19:22+25:00', '1e9'])
def test_what_is_no_date_and_time_is_400(raw):
    with pytest.raises(errors.InvalidInput) as caught:
        query.filter_condition(models.LoadBalancer.created_at, 'created_at', raw)
    assert caught.value.message.startswith(
        "Invalid input for field/attribute created_at. Value: '%s'. " % raw)
    assert caught.value.status == 400


def compiled(condition):
    return condition.compile(dialect=postgresql.dialect(),
                             compile_kwargs={'literal_binds': True}).string


def test_timestamp_equality_is_the_whole_second():
    text = compiled(query.filter_condition(models.LoadBalancer.updated_at, 'updated_at',
                                           '2026-12-02T17:19:22.75Z'))
    assert "updated_at >= '2026-12-02 17:19:22'" in text
    assert "updated_at < '2026-12-02 17:19:23'" in text


def test_the_last_second_there_is_has_no_upper_bound():
    text = compiled(query.filter_condition(models.Amphora.cert_expiration, 'cert_expiration',
                                           '9999-12-31T23:59:59'))
    assert text.endswith(">= '9999-12-31 23:59:59'")


@pytest.mark.parametrize('column, raw, value', [
    (models.Listener.protocol_port, '80', 80),
    (models.Listener.protocol_port, '-1', -1),
    (models.HealthMonitor.http_version, '1.1', 1.1),
    (models.LoadBalancer.name, 'caf\u00e9', 'caf\u00e9'),
])
def test_values_take_their_column_type(column, raw, value):
    condition = query.filter_condition(column, 'f', raw)
    assert condition.right.value == value and type(condition.right.value) is type(value)


@pytest.mark.parametrize('raw, text', [('True', '= true'), ('yes', '= true'),
                                       ('nope', '= false'), ('', '= false')])
def test_booleans_are_read_as_octavia_reads_them(raw, text):
    condition = query.filter_condition(models.LoadBalancer.enabled, 'admin_state_up', raw)
    assert compiled(condition).endswith(text)


@pytest.mark.parametrize('column, raw', [
    (models.Listener.protocol_port, 'eighty'),
    (models.Listener.protocol_port, '1.5'),
    (models.Listener.protocol_port, str(2 ** 63)),
    (models.HealthMonitor.http_version, 'nan'),
    (models.HealthMonitor.http_version, '-inf'),
    (models.HealthMonitor.http_version, 'one'),
    (models.LoadBalancer.name, 'a\x00b'),
])
def test_values_that_do_not_fit_are_400(column, raw):
    with pytest.raises(errors.InvalidInput) as caught:
        query.filter_condition(column, 'f', raw)
    assert caught.value.message.startswith("Invalid input for field/attribute f. Value: '")
