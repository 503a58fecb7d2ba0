"""No request, valid or invalid, gets a 500.

Against the in-process service (SQLite), for every POST and PUT endpoint
(load balancers plain and whole-graph, listeners, pools, members and the
member batch, health monitors, L7 policies and rules, quotas, flavors,
flavor profiles, availability zones and their profiles):

* a schema-driven sweep: a full valid body of each endpoint, then each of
  its fields, one at a time, dropped or set to the boundaries of its kind
  (integers past 32 and 64 bits, negative, float, numeric string, null;
  over-long strings, lone surrogates, wrong types; empty lists...);
* hypothesis: valid bodies damaged in up to three places (near-miss values
  of the field's own kind, odd values of any kind, nulls, dropped and
  unknown keys), wrong envelopes, and bodies that are not JSON objects at
  all (binary, truncated, deeply nested, huge, odd content types);
* hypothesis: random query strings on every list (limit, marker, sort,
  fields, filters, tags; repeated keys; extreme numbers), and random methods
  on every route with random ids, roles, projects and Accept headers.

Every answer must be below 500 (Octavia's own 501 for an option a provider
declines aside), and every 4xx must carry a JSON error body: Octavia's
`faultstring` or the API-WG `errors` list.

Runs are reproducible: `derandomize=True` and no example database. After
each successful write the test waits for the worker to settle the seed load
balancers (and deletes what a POST made), so each example meets a mutable
service and the state the next example sees follows from the examples before.
"""
import copy
import json
import string
import time
import urllib.parse
import uuid

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functional.conftest import LOCAL_NETWORK, LOCAL_V4_SUBNET, LOCAL_V6_SUBNET

pytestmark = pytest.mark.parametrize('service', ['sqlite'], indirect=True)

PROJECT = 'fuzz-' + uuid.UUID(int=1).hex[:12]
LB_PROJECT = 'fuzz-lbs-' + uuid.UUID(int=1).hex[:8]


def fuzz_settings(examples):
    # too_slow/data_too_large: examples are HTTP round trips and some bodies
    # are meant to be huge (over the body limit); neither is a test defect.
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- odd values -------------------------------------------------------------
ODD_STRINGS = [
    '', ' ', '\x00', 'a\x00b', '\t\r\n', '\x7f', '\u202e', '\ud800', 'x\udfffy', '\ufeff',
    '\U0001f600' * 3, 'é' * 300, 'x' * 256, 'y' * 2049, 'z' * 5000, '%00', '%s%n', '{}', '[]',
    'null', 'NaN', 'true', '-1', '0', '1e309', '99999999999999999999', '../../etc/passwd',
    "' OR 1=1 --", '<script>', 'ACTIVE', 'PENDING_DELETE', 'DELETED', 'HTTP', 'TCP', 'UDP',
    'ROUND_ROBIN', 'admin', str(uuid.UUID(int=0)), str(uuid.UUID(int=2 ** 128 - 1)),
    '9C3E0F7E-3F0B-4D8E-8D5B-2B6F9A4C1D01', '{9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01}',
    LOCAL_V4_SUBNET, LOCAL_V6_SUBNET, LOCAL_NETWORK, 'lbaas-local-v4', '198.18.0.5',
    '198.18.0.0', '198.18.255.255', '0.0.0.0', '255.255.255.255', '169.254.169.254', '::',
    '::1', 'fd00:1b::5', 'fe80::1%eth0', '1.2.3.4/32', '198.18.0.0/33', '300.1.1.1',
    'http://', 'http://x', 'https://example.com:99999/', 'ftp://example.com', '/', '//x',
    '/a b', '200', '200-299', '200,201', '999-100', '1.0', '1.1', '2.0', 'GET', 'CONNECT',
    'TLSv1.3', 'SSLv2', 'h2', 'h3', '{"a": 1}', '{"loadbalancer_topology": "ACTIVE_STANDBY"}',
    '{"loadbalancer_topology": "X"}', '{"compute_zone": 5}', '[1]',
]
ODD_INTS = [-2 ** 63, -2 ** 31 - 1, -2, -1, 0, 1, 2, 255, 256, 257, 65535, 65536,
            2 ** 31 - 1, 2 ** 31, 2073600000, 2073600001, 2000000000, 2000000001,
            2 ** 63, 2 ** 64, 10 ** 30]
ODD_FLOATS = [0.5, 1.0, 1.1, -0.0, 1e308, float('nan'), float('inf'), float('-inf'), 80.0]

scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(ODD_INTS), st.integers(),
    st.sampled_from(ODD_FLOATS), st.floats(), st.sampled_from(ODD_STRINGS),
    st.text(max_size=40), st.text(alphabet=st.characters(max_codepoint=0x1f), max_size=8))
odd_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=8)

FIELD_NAMES = [
    'id', 'name', 'description', 'admin_state_up', 'project_id', 'tenant_id', 'tags',
    'provisioning_status', 'operating_status', 'vip_address', 'vip_port_id', 'vip_subnet_id',
    'vip_network_id', 'vip_qos_policy_id', 'vip_sg_ids', 'additional_vips', 'provider',
    'flavor_id', 'availability_zone', 'listeners', 'pools', 'protocol', 'protocol_port',
    'connection_limit', 'default_pool_id', 'default_pool', 'default_tls_container_ref',
    'sni_container_refs', 'insert_headers', 'timeout_client_data', 'allowed_cidrs',
    'tls_ciphers', 'tls_versions', 'alpn_protocols', 'hsts_max_age', 'client_authentication',
    'lb_algorithm', 'session_persistence', 'healthmonitor', 'members', 'tls_enabled',
    'address', 'weight', 'backup', 'subnet_id', 'monitor_address', 'monitor_port',
    'request_sriov', 'type', 'delay', 'timeout', 'max_retries', 'max_retries_down',
    'http_method', 'url_path', 'expected_codes', 'http_version', 'domain_name', 'action',
    'position', 'redirect_pool_id', 'redirect_pool', 'redirect_url', 'redirect_prefix',
    'redirect_http_code', 'rules', 'compare_type', 'key', 'value', 'invert', 'loadbalancer',
    'listener', 'pool', 'member', 'l7policy', 'l7rule', 'load_balancer', 'health_monitor',
    'enabled', 'flavor_profile_id', 'provider_name', 'flavor_data',
    'availability_zone_profile_id', 'availability_zone_data', 'loadbalancer_id',
    'listener_id', 'pool_id', 'l7policy_id', 'topology', 'cascade', 'created_at',
]


# --- request bodies -----------------------------------------------------------
def _paths(obj, prefix=()):
    """Every (container, key) inside a JSON value, containers first."""
    if isinstance(obj, dict):
        for key in list(obj):
            yield obj, key
            yield from _paths(obj[key])
    elif isinstance(obj, list):
        for index in range(len(obj)):
            yield obj, index
            yield from _paths(obj[index])


def _dicts(obj):
    if isinstance(obj, dict):
        yield obj
        for value in obj.values():
            yield from _dicts(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _dicts(value)


def _like(value):
    """Odd values of the kind `value` already is: the near misses that get
    past a type check and meet a range check, a column or a rule."""
    if isinstance(value, bool):
        return st.sampled_from([None, 0, 1, 'true', 'yes', 'True', '', [], {}])
    if isinstance(value, int):
        return st.one_of(st.sampled_from(ODD_INTS), st.integers(), st.sampled_from(ODD_FLOATS),
                         st.sampled_from(['1', '80', '-1', '1e3', '']))
    if isinstance(value, float):
        return st.one_of(st.sampled_from(ODD_FLOATS), st.sampled_from(ODD_INTS))
    if isinstance(value, str):
        return st.one_of(st.sampled_from(ODD_STRINGS), st.text(max_size=30),
                         st.text(alphabet=st.characters(max_codepoint=0x1f), max_size=4),
                         st.builds(lambda n: value * n, st.sampled_from([2, 40, 300])))
    if isinstance(value, list):
        return st.one_of(st.just([]), st.lists(odd_values, max_size=3), odd_values,
                         st.just(value * 60))
    return odd_values


@st.composite
def damaged(draw, valid):
    """A body drawn from `valid`, left alone or damaged in up to three places."""
    obj = copy.deepcopy(draw(valid))
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]))):
        operation = draw(st.sampled_from(['like', 'like', 'like', 'like', 'replace', 'null',
                                          'drop', 'add']))
        if operation == 'add':
            target = draw(st.sampled_from(list(_dicts(obj)) or [obj]))
            key = draw(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=20)))
            target[key] = draw(odd_values)
            continue
        places = list(_paths(obj))
        if not places:
            continue
        container, key = draw(st.sampled_from(places))
        if operation == 'like':
            container[key] = draw(_like(container[key]))
        elif operation == 'replace':
            container[key] = draw(odd_values)
        elif operation == 'null':
            container[key] = None
        elif isinstance(container, dict):
            del container[key]
        else:
            container.pop(key)
    return obj


def enveloped(key, obj_strategy):
    """The object in its envelope, mostly; sometimes in a wrong one."""
    return st.one_of(
        st.builds(lambda o: {key: o}, obj_strategy),
        st.builds(lambda o: {key: o}, obj_strategy),
        st.builds(lambda o: {key: o}, obj_strategy),
        st.builds(lambda o: {key: o}, obj_strategy),
        st.builds(lambda o: o, obj_strategy),
        st.builds(lambda o: {key: [o]}, obj_strategy),
        st.builds(lambda o, k: {k: o}, obj_strategy, st.sampled_from(FIELD_NAMES + [''])),
        st.builds(lambda o, v: {key: o, 'extra': v}, obj_strategy, odd_values),
        odd_values)


def _maybe(strategy):
    return st.one_of(st.none(), strategy)


def _optional_fields(draw, fields):
    """A dict with a random subset of `fields` (name -> strategy)."""
    return {name: draw(strategy) for name, strategy in fields.items() if draw(st.booleans())}


names = st.one_of(st.text(max_size=20), st.sampled_from(['web', 'pool', 'x' * 255]))
tags = st.lists(st.one_of(st.sampled_from(['a', 'b', 't' * 255]), st.text(max_size=10)),
                max_size=4)
ports = st.one_of(st.integers(1, 65535), st.sampled_from([80, 443, 8080]))
addresses = st.one_of(
    st.builds('198.18.{}.{}'.format, st.integers(0, 15), st.integers(1, 254)),
    st.sampled_from(['fd00:1b::10', '192.0.2.10', '203.0.113.5', 'fd00:1b::a']))
listener_protocols = st.sampled_from(['HTTP', 'TCP', 'HTTPS', 'TERMINATED_HTTPS', 'UDP',
                                      'SCTP', 'PROMETHEUS'])
pool_protocols = st.sampled_from(['HTTP', 'TCP', 'HTTPS', 'PROXY', 'PROXYV2', 'UDP', 'SCTP'])
algorithms = st.sampled_from(['ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP',
                              'SOURCE_IP_PORT'])
hm_types = st.sampled_from(['HTTP', 'HTTPS', 'PING', 'TCP', 'TLS-HELLO', 'UDP-CONNECT', 'SCTP'])
rule_types = st.sampled_from(['HOST_NAME', 'PATH', 'FILE_TYPE', 'HEADER', 'COOKIE',
                              'SSL_CONN_HAS_CERT', 'SSL_VERIFY_RESULT', 'SSL_DN_FIELD'])
compare_types = st.sampled_from(['REGEX', 'STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'EQUAL_TO'])
actions = st.sampled_from(['REJECT', 'REDIRECT_TO_URL', 'REDIRECT_TO_POOL', 'REDIRECT_PREFIX'])
session_persistence = st.fixed_dictionaries(
    {'type': st.sampled_from(['SOURCE_IP', 'HTTP_COOKIE', 'APP_COOKIE'])},
    optional={'cookie_name': st.sampled_from(['c', 'JSESSIONID', 'a b']),
              'persistence_timeout': st.integers(-1, 100),
              'persistence_granularity': st.sampled_from(['255.255.255.0', '::'])})


@st.composite
def member_body(draw, graph=False):
    body = {'address': draw(addresses), 'protocol_port': draw(ports)}
    body.update(_optional_fields(draw, {
        'name': names, 'weight': st.integers(0, 256), 'backup': st.booleans(),
        'admin_state_up': st.booleans(), 'subnet_id': st.sampled_from([LOCAL_V4_SUBNET,
                                                                       LOCAL_V6_SUBNET]),
        'monitor_address': addresses, 'monitor_port': ports, 'tags': tags}))
    return body


@st.composite
def hm_body(draw, pool_ids=None):
    body = {'type': draw(hm_types), 'delay': draw(st.integers(0, 10)),
            'timeout': draw(st.integers(0, 10)), 'max_retries': draw(st.integers(1, 10))}
    if pool_ids is not None:
        body['pool_id'] = draw(pool_ids)
    body.update(_optional_fields(draw, {
        'name': names, 'max_retries_down': st.integers(1, 10),
        'http_method': st.sampled_from(['GET', 'HEAD', 'POST']),
        'url_path': st.sampled_from(['/', '/health?x=1', 'bad']),
        'expected_codes': st.sampled_from(['200', '200-204', '200,202']),
        'http_version': st.sampled_from([1.0, 1.1]),
        'domain_name': st.sampled_from(['example.com', 'a..b']),
        'admin_state_up': st.booleans(), 'tags': tags}))
    return body


@st.composite
def pool_body(draw, parent=None, graph=False):
    body = {'protocol': draw(pool_protocols), 'lb_algorithm': draw(algorithms)}
    if graph:
        body['name'] = draw(st.sampled_from(['p1', 'p2']))
    if parent is not None:
        body.update(draw(parent))
    body.update(_optional_fields(draw, {
        'name': names, 'description': names, 'admin_state_up': st.booleans(),
        'session_persistence': _maybe(session_persistence), 'tls_enabled': st.booleans(),
        'tls_ciphers': st.sampled_from(['ECDHE-RSA-AES256-GCM-SHA384', 'bad cipher']),
        'tls_versions': st.lists(st.sampled_from(['TLSv1.2', 'TLSv1.3', 'SSLv3']), max_size=2),
        'alpn_protocols': st.lists(st.sampled_from(['h2', 'http/1.1']), max_size=2),
        'healthmonitor': hm_body(), 'members': st.lists(member_body(), max_size=3),
        'tags': tags}))
    return body


@st.composite
def rule_body(draw):
    body = {'type': draw(rule_types), 'compare_type': draw(compare_types),
            'value': draw(st.sampled_from(['example.com', '/api', 'jpg', 'a b', '"quoted"',
                                           '^re(gex$', 'x' * 256]))}
    body.update(_optional_fields(draw, {
        'key': st.sampled_from(['X-Header', 'session', 'CN', 'bad key']),
        'invert': st.booleans(), 'admin_state_up': st.booleans(), 'tags': tags}))
    return body


@st.composite
def policy_body(draw, listener_ids=None, pool_ids=None, graph=False):
    body = {'action': draw(actions)}
    if listener_ids is not None:
        body['listener_id'] = draw(listener_ids)
    targets = {'redirect_url': st.sampled_from(['http://example.com/', 'https://x:443/a',
                                                'not a url']),
               'redirect_prefix': st.sampled_from(['https://example.com', 'http://y']),
               'redirect_http_code': st.sampled_from([301, 302, 303, 307, 308, 200])}
    if pool_ids is not None:
        targets['redirect_pool_id'] = pool_ids
    if graph:
        targets['redirect_pool'] = st.one_of(st.fixed_dictionaries({'name': st.just('p1')}),
                                             pool_body(graph=True))
    body.update(_optional_fields(draw, dict(
        targets, name=names, description=names, position=st.integers(1, 5),
        admin_state_up=st.booleans(), rules=st.lists(rule_body(), max_size=2), tags=tags)))
    return body


@st.composite
def listener_body(draw, lb_ids=None, pool_ids=None, graph=False):
    body = {'protocol': draw(listener_protocols), 'protocol_port': draw(ports)}
    if lb_ids is not None:
        body['loadbalancer_id'] = draw(lb_ids)
    fields = {
        'name': names, 'description': names, 'admin_state_up': st.booleans(),
        'connection_limit': st.integers(-1, 100000),
        'timeout_client_data': st.integers(0, 100000),
        'timeout_member_connect': st.integers(0, 100000),
        'timeout_member_data': st.integers(0, 100000),
        'timeout_tcp_inspect': st.integers(0, 100000),
        'insert_headers': st.dictionaries(
            st.sampled_from(['X-Forwarded-For', 'X-Forwarded-Port', 'X-SSL-Client-DN',
                             'X-Bogus']), st.sampled_from(['true', 'false', 'x'])),
        'allowed_cidrs': st.lists(st.sampled_from(['0.0.0.0/0', '198.18.0.0/16', '::/0',
                                                   '10.0.0.0/8']), max_size=3),
        'default_tls_container_ref': st.sampled_from(['http://barbican/containers/1', 'x']),
        'sni_container_refs': st.lists(st.sampled_from(['a', 'b']), max_size=2),
        'client_authentication': st.sampled_from(['NONE', 'OPTIONAL', 'MANDATORY']),
        'hsts_max_age': st.integers(0, 10 ** 6), 'hsts_include_subdomains': st.booleans(),
        'hsts_preload': st.booleans(),
        'tls_versions': st.lists(st.sampled_from(['TLSv1.2', 'TLSv1.3']), max_size=2),
        'alpn_protocols': st.lists(st.sampled_from(['h2', 'http/1.1']), max_size=2),
        'tags': tags}
    if pool_ids is not None:
        fields['default_pool_id'] = pool_ids
    if graph:
        fields['default_pool'] = st.one_of(st.fixed_dictionaries({'name': st.just('p1')}),
                                           pool_body(graph=True))
        fields['l7policies'] = st.lists(policy_body(graph=True), max_size=2)
    body.update(_optional_fields(draw, fields))
    return body


@st.composite
def lb_body(draw, graph=False):
    vip = draw(st.sampled_from([
        {'vip_subnet_id': LOCAL_V4_SUBNET}, {'vip_subnet_id': LOCAL_V6_SUBNET},
        {'vip_network_id': LOCAL_NETWORK}, {'vip_port_id': str(uuid.UUID(int=7))},
        {'vip_subnet_id': str(uuid.UUID(int=8))},
        {'vip_subnet_id': LOCAL_V4_SUBNET, 'vip_address': '198.18.3.3'},
        {'vip_subnet_id': LOCAL_V4_SUBNET, 'vip_address': '198.51.100.1'},
        {'vip_network_id': LOCAL_NETWORK, 'vip_address': 'fd00:1b::99'}]))
    body = dict(vip)
    body.update(_optional_fields(draw, {
        'name': names, 'description': names, 'admin_state_up': st.booleans(),
        'provider': st.sampled_from(['amphora', 'octavia', 'noop_driver', 'bogus']),
        'vip_qos_policy_id': st.just(str(uuid.UUID(int=9))),
        'vip_sg_ids': st.lists(st.uuids().map(str), max_size=2),
        'additional_vips': st.lists(st.fixed_dictionaries(
            {'subnet_id': st.sampled_from([LOCAL_V6_SUBNET, LOCAL_V4_SUBNET])},
            optional={'ip_address': addresses}), max_size=2),
        'availability_zone': st.sampled_from(['fuzz-az', 'nope']),
        'tags': tags}))
    if graph:
        body['listeners'] = draw(st.lists(listener_body(graph=True), max_size=2))
        body['pools'] = draw(st.lists(pool_body(graph=True), max_size=2))
    return body


# --- the service under fuzz ------------------------------------------------------
class World:
    """Seed objects in one project, and the HTTP plumbing of the test."""

    def __init__(self, base):
        self.base = base
        self.http = requests.Session()
        self.http.headers['X-Project-Id'] = PROJECT
        self.ids = {}

    def call(self, method, path, body=None, raw=None, headers=None, params=None):
        """Send one request and check the answer; returns the response."""
        url = path if path.startswith('http') else self.base + path
        if params is not None and not isinstance(params, str):
            params = urllib.parse.urlencode(params, doseq=True)
        if params:
            url += '?' + params
        data = raw
        send = dict(headers or {})
        if method == 'POST' and path.rstrip('/').endswith('/loadbalancers'):
            # New load balancers go to a project of their own, so that the
            # lists the other tests read stay short.
            send.setdefault('X-Project-Id', LB_PROJECT)
        if body is not None:
            data = json.dumps(body).encode()
            send.setdefault('Content-Type', 'application/json')
        resp = self.http.request(method, url, data=data, headers=send, timeout=30)
        check_answer(method, url, data, resp)
        return resp

    def member_of(self, pool_id):
        """A member of the pool now (earlier batch updates replace members)."""
        path = '/v2/lbaas/pools/%s/members' % pool_id
        members = self.call('GET', path).json()['members']
        if members:
            return members[0]['id']
        made = self.seed('POST', path, {'member': {'address': '198.18.9.9',
                                                  'protocol_port': 80}}, 'member')
        self.settle()
        return made['id']

    def seed(self, method, path, body, key):
        resp = self.call(method, path, body, headers={'X-Project-Id': PROJECT})
        assert resp.status_code in (200, 201), resp.text
        return resp.json()[key]

    def settle(self, timeout=10.0):
        """Wait until no seed load balancer is PENDING_* (others do not matter:
        every write that is not a new LB lands on a seed LB or on nothing)."""
        deadline = time.time() + timeout
        for lb_id in self.ids.get('loadbalancer', []):
            while time.time() < deadline:
                resp = self.http.get(self.base + '/v2/lbaas/loadbalancers/' + lb_id)
                if resp.status_code != 200 or not resp.json()['loadbalancer'][
                        'provisioning_status'].startswith('PENDING'):
                    break
                time.sleep(0.005)


def _provider_refusal(resp):
    """Octavia's 501 ProviderUnsupportedOptionError: a provider declining an
    option (flavor or AZ data it does not know) is part of the contract."""
    try:
        text = resp.json()['faultstring']
    except (ValueError, KeyError, TypeError):
        return False
    return resp.status_code == 501 and text.startswith("Provider '")


def check_answer(method, url, data, resp):
    shown = (data[:300] if data else data)
    where = '%s %s body=%r' % (method, url[:400], shown)
    assert resp.status_code < 500 or _provider_refusal(resp), '%s -> %d %s' % (
        where, resp.status_code, resp.text[:500])
    if resp.status_code >= 400 and method != 'HEAD':
        try:
            body = resp.json()
        except ValueError:
            raise AssertionError('%s -> %d with a non-JSON body: %r'
                                 % (where, resp.status_code, resp.text[:300]))
        ok = isinstance(body, dict) and (
            isinstance(body.get('faultstring'), str)
            or (isinstance(body.get('errors'), list) and body['errors']))
        assert ok, '%s -> %d with an unexpected error body: %r' % (where, resp.status_code,
                                                                   body)


@pytest.fixture(scope='module')
def world(service):
    w = World(service['url'])
    fp = w.seed('POST', '/v2/lbaas/flavorprofiles', {'flavorprofile': {
        'name': 'fuzz-fp', 'provider_name': 'amphora',
        'flavor_data': '{"loadbalancer_topology": "ACTIVE_STANDBY"}'}}, 'flavorprofile')
    flavor = w.seed('POST', '/v2/lbaas/flavors', {'flavor': {
        'name': 'fuzz-flavor', 'flavor_profile_id': fp['id']}}, 'flavor')
    azp = w.seed('POST', '/v2/lbaas/availabilityzoneprofiles', {'availability_zone_profile': {
        'name': 'fuzz-azp', 'provider_name': 'amphora',
        'availability_zone_data': '{"compute_zone": "nova"}'}}, 'availability_zone_profile')
    w.seed('POST', '/v2/lbaas/availabilityzones', {'availability_zone': {
        'name': 'fuzz-az', 'availability_zone_profile_id': azp['id']}}, 'availability_zone')
    free_fp = w.seed('POST', '/v2/lbaas/flavorprofiles', {'flavorprofile': {
        'name': 'fuzz-fp-free', 'provider_name': 'amphora', 'flavor_data': '{}'}},
        'flavorprofile')
    free_azp = w.seed('POST', '/v2/lbaas/availabilityzoneprofiles', {
        'availability_zone_profile': {'name': 'fuzz-azp-free', 'provider_name': 'amphora',
                                      'availability_zone_data': '{}'}},
        'availability_zone_profile')
    lb = w.seed('POST', '/v2/lbaas/loadbalancers', {'loadbalancer': {
        'name': 'seed', 'vip_subnet_id': LOCAL_V4_SUBNET, 'flavor_id': flavor['id'],
        'listeners': [{'name': 'http', 'protocol': 'HTTP', 'protocol_port': 80,
                       'default_pool': {'name': 'p1'},
                       'l7policies': [{'action': 'REDIRECT_TO_POOL',
                                       'redirect_pool': {'name': 'p2'},
                                       'rules': [{'type': 'PATH', 'compare_type':
                                                  'STARTS_WITH', 'value': '/api'}]}]},
                      {'name': 'tcp', 'protocol': 'TCP', 'protocol_port': 9000}],
        'pools': [{'name': 'p1', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
                   'healthmonitor': {'type': 'HTTP', 'delay': 5, 'timeout': 3,
                                     'max_retries': 2},
                   'members': [{'address': '198.18.1.%d' % i, 'protocol_port': 8080}
                               for i in range(1, 4)]},
                  {'name': 'p2', 'protocol': 'HTTP', 'lb_algorithm': 'LEAST_CONNECTIONS'}]}},
        'loadbalancer')
    w.ids['loadbalancer'] = [lb['id']]
    w.settle()
    udp = w.seed('POST', '/v2/lbaas/loadbalancers', {'loadbalancer': {
        'name': 'seed-udp', 'vip_subnet_id': LOCAL_V6_SUBNET,
        'listeners': [{'name': 'udp', 'protocol': 'UDP', 'protocol_port': 53,
                       'default_pool': {'name': 'u1', 'protocol': 'UDP',
                                        'lb_algorithm': 'SOURCE_IP',
                                        'members': [{'address': 'fd00:1b::20',
                                                     'protocol_port': 53}]}}]}},
        'loadbalancer')
    w.ids['loadbalancer'] = [lb['id'], udp['id']]
    w.settle()
    listeners = lb['listeners'] + udp['listeners']
    pools = [p['id'] for p in lb['pools']] + [udp['listeners'][0]['default_pool_id']]
    amphorae = w.call('GET', '/v2/octavia/amphorae').json()['amphorae']
    w.ids = {
        'loadbalancer': [lb['id'], udp['id']],
        'listener': [li['id'] for li in listeners],
        'pool': pools,
        'member': [m['id'] for p in lb['pools'] for m in p.get('members', [])],
        'healthmonitor': [p['healthmonitor']['id'] for p in lb['pools']
                          if p.get('healthmonitor')],
        'l7policy': [p['id'] for li in lb['listeners'] for p in li.get('l7policies', [])],
        'rule': [r['id'] for li in lb['listeners'] for p in li.get('l7policies', [])
                 for r in p.get('rules', [])],
        'flavor': [flavor['id']], 'flavorprofile': [fp['id'], free_fp['id']],
        'availabilityzone': ['fuzz-az'],
        'availabilityzoneprofile': [azp['id'], free_azp['id']],
        'amphora': [a['id'] for a in amphorae], 'project': [PROJECT, 'other-project'],
    }
    return w


def ids_of(world, kind):
    """A seed id of `kind`, mostly; a fresh uuid or an odd string sometimes."""
    return st.one_of(st.sampled_from(world.ids[kind] or [str(uuid.uuid4())]),
                     st.sampled_from(world.ids[kind] or [str(uuid.uuid4())]),
                     st.uuids().map(str), st.sampled_from(ODD_STRINGS))


def path_segment(value):
    return urllib.parse.quote(str(value).encode('utf-8', 'surrogatepass'), safe='')


# --- write endpoints ------------------------------------------------------------------
def write_cases(world):
    """(method, path, envelope key, valid-body strategy) of every POST/PUT."""
    ids = lambda kind: ids_of(world, kind)  # noqa: E731
    just = lambda kind: st.sampled_from(world.ids[kind])  # noqa: E731
    lb, li, pool = just('loadbalancer'), just('listener'), just('pool')
    policy_update = policy_body().map(lambda b: {k: v for k, v in b.items() if k != 'rules'})
    return {
        'lb-create': ('POST', st.just('/v2/lbaas/loadbalancers'), 'loadbalancer', lb_body()),
        'lb-graph-create': ('POST', st.just('/v2/lbaas/loadbalancers'), 'loadbalancer',
                            lb_body(graph=True)),
        'lb-update': ('PUT', ids('loadbalancer').map(
            lambda i: '/v2/lbaas/loadbalancers/' + path_segment(i)), 'loadbalancer',
            st.fixed_dictionaries({}, optional={
                'name': names, 'description': names, 'admin_state_up': st.booleans(),
                'vip_qos_policy_id': st.just(str(uuid.UUID(int=9))),
                'vip_sg_ids': st.lists(st.uuids().map(str), max_size=2), 'tags': tags})),
        'listener-create': ('POST', st.just('/v2/lbaas/listeners'), 'listener',
                            listener_body(lb_ids=ids('loadbalancer'), pool_ids=pool)),
        'listener-update': ('PUT', ids('listener').map(
            lambda i: '/v2/lbaas/listeners/' + path_segment(i)), 'listener',
            listener_body(pool_ids=pool).map(
                lambda b: {k: v for k, v in b.items() if k not in ('protocol',
                                                                   'protocol_port')})),
        'pool-create': ('POST', st.just('/v2/lbaas/pools'), 'pool', pool_body(
            parent=st.one_of(st.fixed_dictionaries({'loadbalancer_id': ids('loadbalancer')}),
                             st.fixed_dictionaries({'listener_id': ids('listener')}),
                             st.fixed_dictionaries({'loadbalancer_id': lb,
                                                    'listener_id': li}))).map(
            lambda b: {k: v for k, v in b.items() if k not in ('healthmonitor', 'members')}
            if b.get('protocol') == 'UDP' else b)),
        'pool-update': ('PUT', ids('pool').map(lambda i: '/v2/lbaas/pools/' + path_segment(i)),
                        'pool', pool_body().map(
            lambda b: {k: v for k, v in b.items() if k not in ('protocol', 'members',
                                                               'healthmonitor')})),
        'member-create': ('POST', ids('pool').map(
            lambda i: '/v2/lbaas/pools/%s/members' % path_segment(i)), 'member',
            member_body()),
        'member-update': ('PUT', st.tuples(ids('pool'), ids('member')).map(
            lambda p: '/v2/lbaas/pools/%s/members/%s' % tuple(map(path_segment, p))),
            'member', member_body().map(
                lambda b: {k: v for k, v in b.items()
                           if k not in ('address', 'protocol_port', 'subnet_id')})),
        'member-batch': ('PUT', ids('pool').map(
            lambda i: '/v2/lbaas/pools/%s/members' % path_segment(i)), None,
            st.fixed_dictionaries({'members': st.lists(member_body(), max_size=5)})),
        'hm-create': ('POST', st.just('/v2/lbaas/healthmonitors'), 'healthmonitor',
                      hm_body(pool_ids=ids('pool'))),
        'hm-update': ('PUT', ids('healthmonitor').map(
            lambda i: '/v2/lbaas/healthmonitors/' + path_segment(i)), 'healthmonitor',
            hm_body().map(lambda b: {k: v for k, v in b.items() if k != 'type'})),
        'l7policy-create': ('POST', st.just('/v2/lbaas/l7policies'), 'l7policy',
                            policy_body(listener_ids=ids('listener'), pool_ids=pool)),
        'l7policy-update': ('PUT', ids('l7policy').map(
            lambda i: '/v2/lbaas/l7policies/' + path_segment(i)), 'l7policy',
            policy_update),
        'rule-create': ('POST', ids('l7policy').map(
            lambda i: '/v2/lbaas/l7policies/%s/rules' % path_segment(i)), 'rule',
            rule_body()),
        'rule-update': ('PUT', st.tuples(ids('l7policy'), ids('rule')).map(
            lambda p: '/v2/lbaas/l7policies/%s/rules/%s' % tuple(map(path_segment, p))),
            'rule', rule_body()),
        'quota-update': ('PUT', ids('project').map(
            lambda i: '/v2/lbaas/quotas/' + path_segment(i)), 'quota',
            st.fixed_dictionaries({}, optional={
                k: st.one_of(st.integers(-1, 2000000000), st.none()) for k in
                ('loadbalancer', 'load_balancer', 'listener', 'member', 'pool',
                 'healthmonitor', 'health_monitor', 'l7policy', 'l7rule')})),
        'flavorprofile-create': ('POST', st.just('/v2/lbaas/flavorprofiles'), 'flavorprofile',
                                 st.fixed_dictionaries({
                                     'name': names, 'provider_name': st.sampled_from(
                                         ['amphora', 'octavia', 'noop_driver', 'bogus']),
                                     'flavor_data': st.sampled_from(ODD_STRINGS[-5:])})),
        'flavorprofile-update': ('PUT', ids('flavorprofile').map(
            lambda i: '/v2/lbaas/flavorprofiles/' + path_segment(i)), 'flavorprofile',
            st.fixed_dictionaries({}, optional={
                'name': names, 'provider_name': st.sampled_from(['amphora', 'bogus']),
                'flavor_data': st.sampled_from(ODD_STRINGS[-5:])})),
        'flavor-create': ('POST', st.just('/v2/lbaas/flavors'), 'flavor',
                          st.fixed_dictionaries({'name': names,
                                                 'flavor_profile_id': ids('flavorprofile')},
                                                optional={'description': names,
                                                          'enabled': st.booleans()})),
        'flavor-update': ('PUT', ids('flavor').map(
            lambda i: '/v2/lbaas/flavors/' + path_segment(i)), 'flavor',
            st.fixed_dictionaries({}, optional={'name': names, 'description': names,
                                                'enabled': st.booleans()})),
        'azprofile-create': ('POST', st.just('/v2/lbaas/availabilityzoneprofiles'),
                             'availability_zone_profile', st.fixed_dictionaries({
                                 'name': names, 'provider_name': st.sampled_from(
                                     ['amphora', 'noop_driver', 'bogus']),
                                 'availability_zone_data': st.sampled_from(ODD_STRINGS[-5:])})),
        'azprofile-update': ('PUT', ids('availabilityzoneprofile').map(
            lambda i: '/v2/lbaas/availabilityzoneprofiles/' + path_segment(i)),
            'availability_zone_profile', st.fixed_dictionaries({}, optional={
                'name': names, 'provider_name': st.sampled_from(['amphora', 'bogus']),
                'availability_zone_data': st.sampled_from(ODD_STRINGS[-5:])})),
        'az-create': ('POST', st.just('/v2/lbaas/availabilityzones'), 'availability_zone',
                      st.fixed_dictionaries({'name': names,
                                             'availability_zone_profile_id':
                                                 ids('availabilityzoneprofile')},
                                            optional={'description': names,
                                                      'enabled': st.booleans()})),
        'az-update': ('PUT', ids('availabilityzone').map(
            lambda i: '/v2/lbaas/availabilityzones/' + path_segment(i)), 'availability_zone',
            st.fixed_dictionaries({}, optional={'description': names,
                                                'enabled': st.booleans()})),
    }


WRITE_CASES = ['lb-create', 'lb-graph-create', 'lb-update', 'listener-create',
               'listener-update', 'pool-create', 'pool-update', 'member-create',
               'member-update', 'member-batch', 'hm-create', 'hm-update', 'l7policy-create',
               'l7policy-update', 'rule-create', 'rule-update', 'quota-update',
               'flavorprofile-create', 'flavorprofile-update', 'flavor-create',
               'flavor-update', 'azprofile-create', 'azprofile-update', 'az-create',
               'az-update']

roles = st.sampled_from([None, None, None, 'member', 'reader', 'admin', 'load-balancer_member',
                         'load-balancer_observer', 'load-balancer_global_observer', '', ','])


# --- every field of every body, at its boundaries --------------------------------------
# Random damage rarely hits the one field that passes validation and then
# breaks a column (an integer past 64 bits, a NUL): this sweep tries each
# leaf of a full, valid body of each endpoint with each boundary of its
# kind, one at a time, everything else valid.
BOUNDARIES = {
    int: [-1, 2 ** 63, 10 ** 30, 1.5, '7', None],
    str: ['x' * 256, '\ud800', 7, None],
    bool: [None, 'true', 1],
    float: [1.5, 2 ** 63, 'nan', None],
    list: [[], None, 'x', [None]],
    dict: [{}, None, []],
}


def _leaves(obj, path=()):
    """(path, value) of every value in a JSON document, containers too."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for key, value in items:
        yield path + (key,), value
        if isinstance(value, (dict, list)):
            yield from _leaves(value, path + (key,))


def _with(obj, path, value, drop=False):
    obj = copy.deepcopy(obj)
    target = obj
    for key in path[:-1]:
        target = target[key]
    if drop:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


def full_bodies(world):
    """(method, path, envelope, a valid body with every field) per endpoint."""
    ids = world.ids
    lb, (p1, p2), policy = ids['loadbalancer'][0], ids['pool'][:2], ids['l7policy'][0]
    member = {'address': '198.18.7.7', 'protocol_port': 8080, 'name': 'm', 'weight': 3,
              'backup': False, 'admin_state_up': True, 'subnet_id': LOCAL_V4_SUBNET,
              'monitor_address': '198.18.7.8', 'monitor_port': 9090, 'tags': ['t']}
    monitor = {'type': 'HTTP', 'delay': 5, 'timeout': 3, 'max_retries': 2,
               'max_retries_down': 3, 'http_method': 'GET', 'url_path': '/health',
               'expected_codes': '200-204', 'http_version': 1.1, 'domain_name': 'example.com',
               'name': 'hm', 'admin_state_up': True, 'tags': ['t']}
    rule = {'type': 'HEADER', 'compare_type': 'EQUAL_TO', 'key': 'X-A', 'value': 'b',
            'invert': False, 'admin_state_up': True, 'tags': ['t']}
    pool = {'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN', 'name': 'np',
            'description': 'd', 'admin_state_up': True, 'tags': ['t'],
            'session_persistence': {'type': 'APP_COOKIE', 'cookie_name': 'c'}}
    listener = {'protocol': 'HTTP', 'protocol_port': 8081, 'name': 'nl', 'description': 'd',
                'admin_state_up': True, 'connection_limit': 100, 'timeout_client_data': 1000,
                'timeout_member_connect': 1000, 'timeout_member_data': 1000,
                'timeout_tcp_inspect': 0, 'insert_headers': {'X-Forwarded-For': 'true'},
                'allowed_cidrs': ['198.18.0.0/16'], 'tags': ['t']}
    lb_fields = {'name': 'n', 'description': 'd', 'admin_state_up': True,
                 'vip_qos_policy_id': str(uuid.UUID(int=9)),
                 'vip_sg_ids': [str(uuid.UUID(int=10))], 'tags': ['t']}
    return {
        'lb-create': ('POST', '/v2/lbaas/loadbalancers', 'loadbalancer', dict(
            lb_fields, vip_subnet_id=LOCAL_V4_SUBNET, provider='amphora',
            availability_zone='fuzz-az', flavor_id=ids['flavor'][0],
            additional_vips=[{'subnet_id': LOCAL_V6_SUBNET}])),
        'lb-graph-create': ('POST', '/v2/lbaas/loadbalancers', 'loadbalancer', {
            'vip_subnet_id': LOCAL_V4_SUBNET, 'name': 'g',
            'listeners': [dict(listener, default_pool={'name': 'np'}, l7policies=[{
                'action': 'REDIRECT_PREFIX', 'redirect_prefix': 'https://example.com',
                'redirect_http_code': 301, 'position': 1, 'rules': [rule]}])],
            'pools': [dict(pool, members=[member], healthmonitor=monitor)]}),
        'lb-update': ('PUT', '/v2/lbaas/loadbalancers/' + ids['loadbalancer'][1],
                      'loadbalancer', lb_fields),
        'listener-create': ('POST', '/v2/lbaas/listeners', 'listener',
                            dict(listener, loadbalancer_id=lb)),
        'listener-update': ('PUT', '/v2/lbaas/listeners/' + ids['listener'][0], 'listener',
                            {k: v for k, v in listener.items()
                             if k not in ('protocol', 'protocol_port')}),
        'pool-create': ('POST', '/v2/lbaas/pools', 'pool', dict(pool, loadbalancer_id=lb)),
        'pool-update': ('PUT', '/v2/lbaas/pools/' + p2, 'pool',
                        {k: v for k, v in pool.items() if k != 'protocol'}),
        'member-create': ('POST', '/v2/lbaas/pools/%s/members' % p2, 'member', member),
        'member-update': ('PUT', '/v2/lbaas/pools/%s/members/%s' % (p1, world.member_of(p1)),
                          'member', {k: v for k, v in member.items()
                                     if k not in ('address', 'protocol_port', 'subnet_id')}),
        'member-batch': ('PUT', '/v2/lbaas/pools/%s/members' % p2, None, {'members': [
            member, dict(member, address='198.18.7.9')]}),
        'hm-create': ('POST', '/v2/lbaas/healthmonitors', 'healthmonitor',
                      dict(monitor, pool_id=p2)),
        'hm-update': ('PUT', '/v2/lbaas/healthmonitors/' + ids['healthmonitor'][0],
                      'healthmonitor', {k: v for k, v in monitor.items() if k != 'type'}),
        'l7policy-create': ('POST', '/v2/lbaas/l7policies', 'l7policy', {
            'listener_id': ids['listener'][0], 'action': 'REDIRECT_PREFIX',
            'redirect_prefix': 'https://example.com', 'redirect_http_code': 301,
            'position': 1, 'name': 'p', 'description': 'd', 'admin_state_up': True,
            'rules': [rule], 'tags': ['t']}),
        'l7policy-update': ('PUT', '/v2/lbaas/l7policies/' + policy, 'l7policy', {
            'action': 'REDIRECT_TO_POOL', 'redirect_pool_id': p2, 'position': 1,
            'name': 'p', 'description': 'd', 'admin_state_up': True, 'tags': ['t']}),
        'rule-create': ('POST', '/v2/lbaas/l7policies/%s/rules' % policy, 'rule', rule),
        'rule-update': ('PUT', '/v2/lbaas/l7policies/%s/rules/%s' % (policy, ids['rule'][0]),
                        'rule', rule),
        'quota-update': ('PUT', '/v2/lbaas/quotas/fuzz-quota', 'quota', dict.fromkeys(
            ('loadbalancer', 'listener', 'member', 'pool', 'healthmonitor', 'l7policy',
             'l7rule'), 10)),
        'flavorprofile-create': ('POST', '/v2/lbaas/flavorprofiles', 'flavorprofile', {
            'name': 'fp', 'provider_name': 'amphora',
            'flavor_data': '{"loadbalancer_topology": "SINGLE"}'}),
        'flavorprofile-update': ('PUT', '/v2/lbaas/flavorprofiles/' + ids['flavorprofile'][1],
                                 'flavorprofile', {
                                     'name': 'fp', 'provider_name': 'amphora',
                                     'flavor_data': '{"loadbalancer_topology": '
                                                    '"ACTIVE_STANDBY"}'}),
        'flavor-create': ('POST', '/v2/lbaas/flavors', 'flavor', {
            'name': 'new-flavor', 'description': 'd', 'enabled': True,
            'flavor_profile_id': ids['flavorprofile'][0]}),
        'flavor-update': ('PUT', '/v2/lbaas/flavors/' + ids['flavor'][0], 'flavor', {
            'name': 'fuzz-flavor', 'description': 'd', 'enabled': True}),
        'azprofile-create': ('POST', '/v2/lbaas/availabilityzoneprofiles',
                             'availability_zone_profile', {
                                 'name': 'azp', 'provider_name': 'amphora',
                                 'availability_zone_data': '{"compute_zone": "a"}'}),
        'azprofile-update': ('PUT', '/v2/lbaas/availabilityzoneprofiles/'
                             + ids['availabilityzoneprofile'][1], 'availability_zone_profile', {
                                 'name': 'azp', 'provider_name': 'amphora',
                                 'availability_zone_data': '{"compute_zone": "b"}'}),
        'az-create': ('POST', '/v2/lbaas/availabilityzones', 'availability_zone', {
            'name': 'new-az', 'description': 'd', 'enabled': True,
            'availability_zone_profile_id': ids['availabilityzoneprofile'][0]}),
        'az-update': ('PUT', '/v2/lbaas/availabilityzones/fuzz-az', 'availability_zone', {
            'description': 'd', 'enabled': True}),
    }


def _undo_create(world, case, path, key, resp):
    """Delete what a successful POST made, so the next request meets the same world."""
    if case in ('lb-create', 'lb-graph-create'):
        return  # a new load balancer is independent of the rest: left to be
    world.settle()
    if resp.status_code != 201 or not key:
        return
    made = resp.json()[key]
    world.call('DELETE', path + '/' + path_segment(made.get('id') or made['name']))
    world.settle()


# Fields every object has are swept on one create per resource, at the top.
GENERIC = {'name', 'description', 'tags', 'admin_state_up'}


def _swept(case, where):
    return where[-1] not in GENERIC or (case.endswith('-create') and len(where) == 1
                                        and case != 'lb-graph-create')


@pytest.mark.parametrize('case', WRITE_CASES)
def test_every_field_at_its_boundaries_never_500(world, case):
    method, path, key, body = full_bodies(world)[case]
    resp = world.call(method, path, body={key: body} if key else body)
    assert resp.status_code < 300, 'the full body of %s is not valid: %s' % (case, resp.text)
    _undo_create(world, case, path, key, resp)
    failures = []
    for where, value in [(w, v) for w, v in _leaves(body) if _swept(case, w)]:
        variants = [_with(body, where, None, drop=True)] + [
            _with(body, where, odd) for odd in BOUNDARIES[type(value)]]
        for variant in variants:
            try:
                resp = world.call(method, path, body={key: variant} if key else variant)
            except AssertionError as exc:  # go on: report every field that fails
                failures.append(str(exc).split('\n')[0][:600])
                world.settle()
                continue
            if resp.status_code < 300:
                _undo_create(world, case, path, key, resp)
    assert not failures, '%d requests failed:\n%s' % (len(failures), '\n'.join(failures))


@pytest.mark.parametrize('case', WRITE_CASES)
@fuzz_settings(15)
@given(data=st.data())
def test_write_bodies_never_500(world, case, data):
    method, path_strategy, key, valid = write_cases(world)[case]
    path = data.draw(path_strategy, label='path')
    obj = damaged(valid)
    body = data.draw(enveloped(key, obj) if key else
                     st.one_of(obj, obj, obj, odd_values), label='body')
    headers = {}
    role = data.draw(roles, label='roles')
    if role is not None:
        headers['X-Roles'] = role
    resp = world.call(method, path, body=body, headers=headers)
    if resp.status_code < 300:
        world.settle()
    if resp.status_code == 201 and key:
        # Put the world back (the seed pool free of a monitor, the port free
        # of a listener...), so later examples get as deep as this one did.
        made = resp.json()[key]
        item = path + '/' + path_segment(made.get('id') or made['name'])
        world.call('DELETE', item + ('?cascade=true' if case.startswith('lb-') else ''))
        world.settle()


# --- bodies that are not JSON objects at all ----------------------------------------------
raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from([b'', b'null', b'[]', b'{}', b'"x"', b'1', b'NaN', b'{"loadbalancer":',
                     b'{"loadbalancer": {}}}', b'\xff\xfe{', b'{"a": "\xc3\x28"}',
                     b'{"loadbalancer": {"name": "\\ud800"}}', b'\x00' * 10,
                     b'{"loadbalancer": {"vip_subnet_id": "' + LOCAL_V4_SUBNET.encode()
                     + b'", "name": "x", "name": "y"}}',
                     b'[' * 5000 + b']' * 5000, b'{"a":' * 3000 + b'1' + b'}' * 3000,
                     b'{"members": ' + b'[' * 10000 + b']' * 10000 + b'}',
                     b'x' * 200000]),
    st.text(max_size=40).map(lambda t: t.encode('utf-8', 'surrogatepass')))
content_types = st.sampled_from([None, 'application/json', 'text/plain', 'application/xml',
                                 'multipart/form-data; boundary=x',
                                 'application/x-www-form-urlencoded',
                                 'application/json; charset=latin-1', '\u00e9/x'])


@fuzz_settings(100)
@given(data=st.data())
def test_raw_bodies_never_500(world, data):
    cases = write_cases(world)
    method, path_strategy, _, _ = cases[data.draw(st.sampled_from(WRITE_CASES), label='case')]
    path = data.draw(path_strategy, label='path')
    raw = data.draw(raw_bodies, label='raw')
    headers = {}
    ctype = data.draw(content_types, label='content-type')
    if ctype:
        headers['Content-Type'] = ctype.encode('utf-8').decode('latin-1')
    resp = world.call(method, path, raw=raw, headers=headers)
    if resp.status_code < 300:
        world.settle()


# --- list endpoints and their query strings -----------------------------------------------
def list_paths(world):
    pool = world.ids['pool'][0]
    policy = world.ids['l7policy'][0]
    return ['/v2/lbaas/loadbalancers', '/v2/lbaas/listeners', '/v2/lbaas/pools',
            '/v2/lbaas/pools/%s/members' % pool, '/v2/lbaas/healthmonitors',
            '/v2/lbaas/l7policies', '/v2/lbaas/l7policies/%s/rules' % policy,
            '/v2/lbaas/quotas', '/v2/lbaas/flavors', '/v2/lbaas/flavorprofiles',
            '/v2/lbaas/availabilityzones', '/v2/lbaas/availabilityzoneprofiles',
            '/v2/lbaas/providers', '/v2/octavia/amphorae', '/v2/loadbalancers',
            '/v2.0/lbaas/listeners', '/v2.0/networks', '/v2.0/subnets',
            '/networking/v2.0/subnets']


COMMON_KEYS = ['limit', 'marker', 'page_reverse', 'sort', 'sort_key', 'sort_dir', 'fields',
               'tags', 'tags-any', 'not-tags', 'not-tags-any', 'id', 'name', 'project_id',
               'tenant_id', 'provisioning_status', 'operating_status', 'admin_state_up',
               'created_at', 'updated_at', 'description']
PATH_KEYS = {
    'loadbalancers': ['provider', 'vip_address', 'vip_subnet_id', 'vip_port_id', 'flavor_id',
                      'availability_zone'],
    'listeners': ['protocol', 'protocol_port', 'connection_limit', 'loadbalancer_id',
                  'load_balancer_id', 'timeout_client_data', 'hsts_max_age', 'default_pool_id'],
    'pools': ['protocol', 'lb_algorithm', 'loadbalancer_id', 'tls_enabled', 'listener_id'],
    'members': ['address', 'protocol_port', 'weight', 'backup', 'monitor_port', 'subnet_id',
                'pool_id'],
    'healthmonitors': ['type', 'delay', 'timeout', 'max_retries', 'max_retries_down',
                       'http_method', 'pool_id', 'http_version', 'expected_codes'],
    'l7policies': ['action', 'position', 'listener_id', 'redirect_http_code',
                   'redirect_pool_id'],
    'rules': ['type', 'compare_type', 'key', 'value', 'invert', 'l7policy_id'],
    'quotas': ['loadbalancer', 'load_balancer', 'listener', 'member'],
    'flavors': ['enabled', 'flavor_profile_id'],
    'flavorprofiles': ['provider_name', 'flavor_data'],
    'availabilityzones': ['enabled', 'availability_zone_profile_id'],
    'availabilityzoneprofiles': ['provider_name', 'availability_zone_data'],
    'providers': [], 'amphorae': ['loadbalancer_id', 'status', 'role', 'compute_id',
                                  'vrrp_priority', 'cert_busy', 'ha_ip'],
    'networks': ['network_id', 'subnet_id'], 'subnets': ['network_id', 'cidr', 'ip_version'],
}


NUMBERS = ['99999999999', '99999999999999999999999', '-99999999999999999999', '2147483648',
           '9223372036854775808', '-9223372036854775809', '1e3', '1.5', 'nan', '-0', '0x10',
           ' 1', '\u0661']


@st.composite
def query_strings(draw, world, path):
    seeds = [i for ids in world.ids.values() for i in ids]
    values = st.one_of(
        st.sampled_from(['1', '0', '-1', '2', '1000', '1001', 'infinite', 'true', 'True',
                         'false', 'asc', 'desc', 'name', 'name:asc', 'name:desc',
                         'id:desc,name', 'created_at:asc', 'bogus:asc', 'name:up', ':',
                         ',', 'name,id', 'a,b', 'ACTIVE', 'HTTP', '80', '2020-01-01',
                         '2020-01-01T00:00:00', 'not-a-date', '4']),
        st.sampled_from(NUMBERS), st.sampled_from(seeds), st.sampled_from(ODD_STRINGS),
        st.text(max_size=12))
    # Mostly keys the list knows, so that one odd value at a time gets deep.
    known = COMMON_KEYS + PATH_KEYS[path.rstrip('/').rsplit('/', 1)[-1]]
    pairs = draw(st.lists(st.tuples(st.sampled_from(known), values), min_size=1, max_size=3))
    if draw(st.integers(0, 4)) == 0:
        pairs.append((draw(st.text(max_size=8)), draw(values)))
    if draw(st.integers(0, 3)) == 0:  # a key given twice
        pairs.append((pairs[0][0], draw(values)))
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(['%zz', '&&&', '=', 'limit', 'limit=', '=x&=y',
                                     'limit=1&limit=2', 'sort=name%3Aasc&sort=id',
                                     'fields=id&fields=name', '%00=%00', 'a=%ff%fe',
                                     'marker=%ed%a0%80', 'name=%ed%a0%80']))
    return urllib.parse.urlencode(
        [(k.encode('utf-8', 'surrogatepass'), v.encode('utf-8', 'surrogatepass'))
         for k, v in pairs])


@fuzz_settings(300)
@given(data=st.data())
def test_list_queries_never_500(world, data):
    path = data.draw(st.sampled_from(list_paths(world)), label='path')
    params = data.draw(query_strings(world, path), label='query')
    headers = {}
    role = data.draw(st.one_of(st.just('member'), st.just('member'), roles), label='roles')
    if role is not None:
        headers['X-Roles'] = role
    world.call('GET', path, params=params, headers=headers)


# --- any method on any route, random ids ------------------------------------------------
ROUTES = [
    '/', '/v2', '/v2.0', '/healthcheck', '/v2/lbaas', '/v3', '/v2/lbaas/nothing',
    '/v2/lbaas/loadbalancers', '/v2/lbaas/loadbalancers/{loadbalancer}',
    '/v2/lbaas/loadbalancers/{loadbalancer}/status',
    '/v2/lbaas/loadbalancers/{loadbalancer}/statuses',
    '/v2/lbaas/loadbalancers/{loadbalancer}/stats',
    '/v2/lbaas/loadbalancers/{loadbalancer}/failover', '/v2/lbaas/listeners/{listener}',
    '/v2/lbaas/listeners/{listener}/stats', '/v2/lbaas/pools/{pool}',
    '/v2/lbaas/pools/{pool}/members', '/v2/lbaas/pools/{pool}/members/{member}',
    '/v2/lbaas/healthmonitors/{healthmonitor}', '/v2/lbaas/l7policies/{l7policy}',
    '/v2/lbaas/l7policies/{l7policy}/rules', '/v2/lbaas/l7policies/{l7policy}/rules/{rule}',
    '/v2/lbaas/quotas/{project}', '/v2/lbaas/quotas/{project}/default',
    '/v2/lbaas/quotas/default', '/v2/lbaas/flavors/{flavor}',
    '/v2/lbaas/flavorprofiles/{flavorprofile}',
    '/v2/lbaas/availabilityzones/{availabilityzone}',
    '/v2/lbaas/availabilityzoneprofiles/{availabilityzoneprofile}',
    '/v2/lbaas/providers/{project}/flavor_capabilities',
    '/v2/lbaas/providers/amphora/flavor_capabilities',
    '/v2/lbaas/providers/amphora/availability_zone_capabilities',
    '/v2/octavia/amphorae/{amphora}', '/v2/octavia/amphorae/{amphora}/failover',
    '/v2/octavia/amphorae/{amphora}/config', '/v2/octavia/amphorae/{amphora}/stats',
    '/v2.0/networks/{project}', '/v2.0/subnets/{project}',
    '/v2/lbaas/loadbalancers/{loadbalancer}.json', '/v2/lbaas/loadbalancers.json',
]
METHODS = ['GET', 'GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE',
           'PROPFIND', 'FOO']


@fuzz_settings(200)
@given(data=st.data())
def test_any_method_any_path_never_500(world, data):
    template = data.draw(st.sampled_from(ROUTES), label='route')
    values = {}
    for _, field, _, _ in string.Formatter().parse(template):
        if field:
            values[field] = path_segment(data.draw(ids_of(world, field), label=field))
    path = template.format(**values)
    method = data.draw(st.sampled_from(METHODS), label='method')
    body = data.draw(st.one_of(st.none(), odd_values), label='body')
    params = data.draw(st.sampled_from([None, 'cascade=true', 'cascade=%ff', 'additive_only=1',
                                        'limit=1', 'fields=id']), label='query')
    headers = {}
    role = data.draw(roles, label='roles')
    if role is not None:
        headers['X-Roles'] = role
    accept = data.draw(st.sampled_from([None, None, 'application/json', 'text/html', '*/*',
                                        'application/xml', 'application/json;q=0',
                                        'garbage']), label='accept')
    if accept:
        headers['Accept'] = accept
    project = data.draw(st.sampled_from([None, None, '', 'other', 'x' * 300, '\u00e9']),
                        label='project')
    if project is not None:
        headers['X-Project-Id'] = project.encode('utf-8').decode('latin-1')
    resp = world.call(method, path, body=body, headers=headers, params=params)
    if resp.status_code < 300 and method not in ('GET', 'HEAD', 'OPTIONS'):
        world.settle()
