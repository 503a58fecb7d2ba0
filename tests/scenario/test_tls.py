"""TLS through the amphora, checked from outside with real TLS clients.

Certificates live in the key manager lbaas serves (Barbican's API at
`<endpoint>/v1`): PKCS12 bundles for certificates, PEM text for CAs and CRLs
(tests/scenario/pki.py makes them). Requests come from the client test
host, with curl and `openssl s_client` run inside its namespace; each test
makes its own load balancer.

- the Octavia TLS cookbook, as written, with the `openstack` CLI;
- SNI: the certificate chosen by server name, the default one otherwise;
- client authentication: MANDATORY refuses no certificate and a revoked one,
  admits a valid one, whose X-SSL-Client-* headers reach the member;
  OPTIONAL admits a client without one;
- L7 rules on the client certificate (SSL_CONN_HAS_CERT, SSL_VERIFY_RESULT,
  SSL_DN_FIELD);
- HTTP/2 through ALPN, HSTS, tls_versions and tls_ciphers honoured;
- re-encryption to members that require a client certificate, an HTTPS
  monitor marking a member whose certificate the CA did not sign ERROR,
  the pool's tls_versions and tls_ciphers honoured towards the member,
  a TLS-HELLO monitor following a member's TLS server going and coming back;
- a rotated certificate served to new connections while a request on an
  old one completes.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.scenario import pki as tls
from tests.scenario import traffic

TLS_PORT = 8443  # members' HTTPS backends requiring a client certificate
HELLO_PORT = 9443  # members' HTTPS backends taking any client
TLS_MEMBERS = {'tls1': '198.18.0.121', 'tls2': '198.18.0.122', 'rogue': '198.18.0.123'}
WWW, API, DEFAULT, ROTATED = tls.SERVER_NAMES
OPENSTACK = os.path.join(os.path.dirname(sys.executable), 'openstack')
SERVING_TIMEOUT = 30.0  # seconds for a listener to answer once its LB is ACTIVE
MONITOR_TIMEOUT = 45.0  # seconds for a health monitor to change a member's status


# -- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    authority = tls.Pki(TLS_MEMBERS.values())
    authority.files = authority.write(str(tmp_path_factory.mktemp('pki')))
    return authority


@pytest.fixture(scope='module')
def refs(service, api, pki):
    """Every certificate, CA and CRL in the key manager: {label: href}."""
    def store(name, payload, kind=tls.OCTET_STREAM):
        return tls.store_secret(api.session, service.endpoint, name, payload, kind)
    found = {name: store(name, pki.server(name).pkcs12()) for name in tls.SERVER_NAMES}
    found['client-ca'] = store('client-ca', pki.client_ca.cert_pem(), tls.TEXT)
    found['client-crl'] = store('client-crl', pki.client_ca.crl_pem(), tls.TEXT)
    found['backend-ca'] = store('backend-ca', pki.backend_ca.cert_pem(), tls.TEXT)
    found['lb-client'] = store('lb-client', pki.lb_client.pkcs12())
    return found


@pytest.fixture(scope='module')
def tls_members(service, pki):
    """Member hosts tls1, tls2 (certificates from the backend CA) and rogue
    (from a CA nobody trusts), each serving HTTPS on TLS_PORT to clients
    showing a certificate the backend CA signed; tls1 and tls2 also on
    HELLO_PORT to anyone."""
    hosts = {}
    for name, address in TLS_MEMBERS.items():
        host = service.host('member', name, [address])
        prefix = 'rogue' if name == 'rogue' else 'member'
        files = (pki.files['%s-%s.pem' % (prefix, address)],
                 pki.files['%s-%s.key' % (prefix, address)])
        host.start_backend(TLS_PORT, name=name, tls_files=files,
                           client_ca=pki.files['backend-ca.pem'])
        host.tls_files = files
        if name != 'rogue':
            host.start_backend(HELLO_PORT, name=name, tls_files=files)
        hosts[name] = host
    yield hosts
    for host in hosts.values():
        for port in list(host.backends):
            host.stop_backend(port)


# -- clients -----------------------------------------------------------------------------

class Answer:
    """What curl reported: exit code, status, HTTP version, headers, body,
    the server certificate's subject, and its error text."""

    def __init__(self, done):
        self.returncode, self.stderr = done.returncode, done.stderr
        out, _, tail = done.stdout.rpartition('\n@@')
        self.status, _, self.http_version = tail.strip().partition(' ')
        # Text mode has turned the header lines' CRLFs into LFs.
        head, _, self.body = out.replace('\r\n', '\n').partition('\n\n')
        self.headers = {}
        for line in head.split('\n')[1:]:
            key, _, value = line.partition(':')
            self.headers[key.strip().lower()] = value.strip()
        subjects = re.findall(r'^\*\s+subject: (.+)$', done.stderr, re.MULTILINE)
        self.subject = subjects[-1] if subjects else None

    @property
    def ok(self):
        return self.returncode == 0 and self.status == '200'

    def error(self):
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith('curl:')]
        return lines[-1] if lines else 'exit %d, HTTP %s' % (self.returncode, self.status)

    def __repr__(self):
        return 'Answer(rc=%d, %s %s, subject=%r, %s)' % (
            self.returncode, self.status, self.http_version, self.subject,
            self.error() if not self.ok else self.body[:80])


def curl_argv(url, *options, resolve=None, timeout=20):
    """curl printing what Answer reads: headers, body, then status and version."""
    argv = ['curl', '-sS', '-v', '--connect-timeout', '5', '--max-time', str(timeout),
            '-D', '-', '-o', '-', '-w', r'\n@@%{http_code} %{http_version}\n']
    if resolve:
        argv += ['--resolve', resolve]
    return argv + list(options) + [url]


def curl(client, url, *options, resolve=None, timeout=20):
    """One request with curl from the client host; an Answer."""
    return Answer(client.run(curl_argv(url, *options, resolve=resolve, timeout=timeout),
                             timeout=timeout + 10))


def https(client, vip, name, pki, *options, port=443, path='/'):
    """curl https://<name>:<port><path> at the VIP, checking the listener's
    certificate against the test root CA."""
    return curl(client, 'https://%s:%d%s' % (name, port, path), '--cacert',
                pki.files['root.pem'], *options, resolve='%s:%d:%s' % (name, port, vip))


def s_client(client, vip, port, *options):
    """`openssl s_client` handshake at the VIP; (common name of the peer
    certificate or None, the CompletedProcess)."""
    done = client.run(['openssl', 's_client', '-connect', '%s:%d' % (vip, port)] +
                      list(options), timeout=20)
    found = re.search(r'^subject=.*CN = ([^,\n]+)', done.stdout, re.MULTILINE)
    return (found.group(1).strip() if found else None), done


def wait_serving(request, timeout=SERVING_TIMEOUT):
    """Call `request()` (an Answer) until it is a 200; that Answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = request()
        if answer.ok:
            return answer
        assert time.monotonic() < deadline, 'no good answer: %r' % answer
        time.sleep(0.2)


def tls_listener(port, refs, pool=None, **fields):
    return traffic.listener(port, pool, protocol='TERMINATED_HTTPS',
                            default_tls_container_ref=refs[DEFAULT], **fields)


def web_pool(members, name='web'):
    return traffic.pool(name, [traffic.member(m) for m in members[:2]])


# -- the cookbook, with the openstack CLI ------------------------------------------------

COOKBOOK = r'''
set -e
openstack() { "$OPENSTACK" --os-auth-type none --os-endpoint "$ENDPOINT" "$@"; }
cd "$WORKDIR"
openstack secret store --name='tls_secret1' -t 'application/octet-stream' -e 'base64' --payload="$(base64 < server.p12)"
openstack loadbalancer create --name lb1 --vip-subnet-id lbaas-local-v4 --wait
openstack loadbalancer listener create --protocol-port 443 --protocol TERMINATED_HTTPS --name listener1 --default-tls-container-ref=$(openstack secret list | awk '/ tls_secret1 / {print $2}') lb1 --wait
openstack loadbalancer pool create --name pool1 --lb-algorithm ROUND_ROBIN --listener listener1 --protocol HTTP --wait
openstack loadbalancer member create --subnet-id lbaas-local-v4 --address "$MEMBER1" --protocol-port 8080 pool1 --wait
openstack loadbalancer member create --subnet-id lbaas-local-v4 --address "$MEMBER2" --protocol-port 8080 pool1 --wait
openstack loadbalancer show lb1 -f value -c vip_address
'''


def test_cookbook_terminated_https_with_the_openstack_cli(service, pki, members, client,
                                                          tmp_path):
    with open(tmp_path / 'server.p12', 'wb') as f:
        f.write(pki.server(WWW).pkcs12())
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(OS_CLIENT_CONFIG_FILE=os.devnull, OPENSTACK=OPENSTACK,
               ENDPOINT=service.endpoint, WORKDIR=str(tmp_path),
               MEMBER1=members[0].addresses[0], MEMBER2=members[1].addresses[0])
    started = time.monotonic()
    done = subprocess.run(['bash', '-c', COOKBOOK], capture_output=True, text=True, env=env,
                          timeout=300, stdin=subprocess.DEVNULL)
    traffic.record('TLS cookbook with the CLI (s)', time.monotonic() - started)
    assert done.returncode == 0, 'cookbook failed (%d):\n%s\n%s' % (
        done.returncode, done.stdout[-3000:], done.stderr[-3000:])
    vip = done.stdout.strip().splitlines()[-1]
    try:
        answer = wait_serving(lambda: https(client, vip, WWW, pki))
        print('cookbook: %s answered over HTTPS: %r' % (vip, answer))
        assert 'CN=%s' % WWW in answer.subject
        seen = {https(client, vip, WWW, pki).body.strip() for _ in range(6)}
        assert seen == {'m1', 'm2'}, seen
    finally:
        subprocess.run([OPENSTACK, '--os-auth-type', 'none', '--os-endpoint', service.endpoint,
                        'loadbalancer', 'delete', '--cascade', '--wait', 'lb1'],
                       capture_output=True, env=env, timeout=120, stdin=subprocess.DEVNULL)


# -- SNI ----------------------------------------------------------------------------------

def test_sni_chooses_the_certificate_by_server_name(api, refs, pki, members, client):
    lb = api.create_lb('tls-sni', [tls_listener(443, refs, web_pool(members),
                                                sni_container_refs=[refs[WWW], refs[API]])])
    vip = lb['vip_address']
    wait_serving(lambda: https(client, vip, DEFAULT, pki))
    for name in (WWW, API, DEFAULT):
        answer = https(client, vip, name, pki)  # verified against the root, name included
        assert answer.ok, (name, answer)
        assert 'CN=%s' % name in answer.subject, (name, answer.subject)
        seen, done = s_client(client, vip, 443, '-servername', name)
        assert seen == name, (name, done.stdout[-1500:])
    unknown, done = s_client(client, vip, 443, '-servername', 'unknown.example.test')
    assert unknown == DEFAULT, done.stdout[-1500:]
    without, done = s_client(client, vip, 443, '-noservername')
    assert without == DEFAULT, done.stdout[-1500:]
    api.delete_lb(lb['id'])


# -- client authentication -------------------------------------------------------------

CLIENT_HEADERS = ('X-SSL-Client-Verify', 'X-SSL-Client-Has-Cert', 'X-SSL-Client-DN',
                  'X-SSL-Client-CN', 'X-SSL-Issuer')


def member_headers(answer):
    """The request headers the member's /headers page saw, names lower-cased
    (HAProxy writes them in lower case when the client spoke HTTP/2)."""
    return {k.lower(): v for k, v in json.loads(answer.body)['headers'].items()}


def test_client_authentication_mandatory_and_optional(api, refs, pki, members, client):
    auth = {'client_ca_tls_container_ref': refs['client-ca'],
            'client_crl_container_ref': refs['client-crl'],
            'insert_headers': {name: 'true' for name in CLIENT_HEADERS}}
    lb = api.create_lb('tls-client-auth', [
        tls_listener(443, refs, web_pool(members, 'mandatory'),
                     client_authentication='MANDATORY', **auth),
        tls_listener(8443, refs, web_pool(members, 'optional'),
                     client_authentication='OPTIONAL', **auth)])
    vip, files = lb['vip_address'], pki.files
    alice = ('--cert', files['alice.pem'], '--key', files['alice.key'])
    mallory = ('--cert', files['mallory.pem'], '--key', files['mallory.key'])
    admitted = wait_serving(lambda: https(client, vip, DEFAULT, pki, *alice, path='/headers'))

    headers = member_headers(admitted)
    print('MANDATORY, alice: headers at the member:',
          {k: v for k, v in headers.items() if k.startswith('x-ssl')})
    assert headers.get('x-ssl-client-verify') == '0', headers
    assert headers.get('x-ssl-client-has-cert') == '1', headers
    assert headers.get('x-ssl-client-cn', '').strip('"') == 'alice', headers
    assert 'CN=alice' in headers.get('x-ssl-client-dn', ''), headers
    assert 'CN=lbaas test client CA' in headers.get('x-ssl-issuer', ''), headers

    for label, options in (('no certificate', ()), ('revoked certificate', mallory)):
        refused = https(client, vip, DEFAULT, pki, *options)
        print('MANDATORY, %s: %s' % (label, refused.error()))
        assert not refused.ok and refused.status != '200', refused
        # Under TLS 1.2 the refusal is a TLS alert during the handshake.
        refused = https(client, vip, DEFAULT, pki, '--tls-max', '1.2', *options)
        print('MANDATORY, %s, TLS 1.2: %s' % (label, refused.error()))
        assert not refused.ok and 'alert' in refused.error(), refused
        if options:
            assert 'certificate revoked' in refused.error(), refused

    optional = https(client, vip, DEFAULT, pki, port=8443, path='/headers')
    assert optional.ok, optional
    headers = member_headers(optional)
    assert headers.get('x-ssl-client-has-cert') == '0', headers
    with_cert = https(client, vip, DEFAULT, pki, *alice, port=8443, path='/headers')
    assert with_cert.ok, with_cert
    assert member_headers(with_cert).get('x-ssl-client-cn', '').strip('"') == 'alice'
    revoked = https(client, vip, DEFAULT, pki, *mallory, port=8443)
    assert not revoked.ok, revoked  # OPTIONAL still refuses a certificate it rejects
    api.delete_lb(lb['id'])


def rule(rule_type, value, compare='EQUAL_TO', **fields):
    return {'type': rule_type, 'compare_type': compare, 'value': value, **fields}


def test_l7_rules_on_the_client_certificate(api, refs, pki, members, client):
    """SSL_CONN_HAS_CERT, SSL_VERIFY_RESULT and SSL_DN_FIELD decide: no
    certificate is rejected (403); alice's (verified, CN alice) goes to the
    pool of m3 instead of the default pool (m1, m2)."""
    policies = [
        {'action': 'REJECT', 'position': 1,
         'rules': [rule('SSL_CONN_HAS_CERT', 'True', invert=True)]},
        {'action': 'REDIRECT_TO_POOL', 'position': 2,
         'redirect_pool': {'name': 'alice'},
         'rules': [rule('SSL_VERIFY_RESULT', '0'),
                   rule('SSL_DN_FIELD', 'alice', key='CN')]},
    ]
    lb = api.create_lb('tls-l7', [tls_listener(
        443, refs, web_pool(members), client_authentication='OPTIONAL',
        client_ca_tls_container_ref=refs['client-ca'], l7policies=policies)],
        pools=[traffic.pool('alice', [traffic.member(members[2])])])
    vip, files = lb['vip_address'], pki.files
    alice = ('--cert', files['alice.pem'], '--key', files['alice.key'])
    answer = wait_serving(lambda: https(client, vip, DEFAULT, pki, *alice))
    assert {https(client, vip, DEFAULT, pki, *alice).body.strip() for _ in range(4)} | \
        {answer.body.strip()} == {'m3'}
    refused = https(client, vip, DEFAULT, pki)
    assert refused.status == '403', refused
    api.delete_lb(lb['id'])


# -- ALPN, HSTS, versions, ciphers ------------------------------------------------------

def test_http2_by_alpn_and_hsts(api, refs, pki, members, client):
    lb = api.create_lb('tls-h2', [tls_listener(
        443, refs, web_pool(members), alpn_protocols=['h2', 'http/1.1'],
        hsts_max_age=31536000, hsts_include_subdomains=True, hsts_preload=True)])
    vip = lb['vip_address']
    h2 = wait_serving(lambda: https(client, vip, DEFAULT, pki, '--http2'))
    assert h2.http_version == '2', h2
    assert 'ALPN: server accepted h2' in h2.stderr or 'ALPN, server accepted to use h2' \
        in h2.stderr, h2.stderr[-2000:]
    hsts = h2.headers.get('strict-transport-security', '')
    print('HTTP/2 answer; Strict-Transport-Security: %s' % hsts)
    assert 'max-age=31536000' in hsts and 'includeSubDomains' in hsts and 'preload' in hsts
    h1 = https(client, vip, DEFAULT, pki, '--http1.1')
    assert h1.ok and h1.http_version == '1.1', h1
    api.delete_lb(lb['id'])


def test_tls_versions_and_ciphers_are_honoured(api, refs, pki, members, client):
    allowed, other = 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384'
    lb = api.create_lb('tls-versions', [
        tls_listener(443, refs, web_pool(members, 'v13'), tls_versions=['TLSv1.3']),
        tls_listener(8443, refs, web_pool(members, 'ciphers'), tls_versions=['TLSv1.2'],
                     tls_ciphers=allowed)])
    vip = lb['vip_address']
    v13 = wait_serving(lambda: https(client, vip, DEFAULT, pki, '--tlsv1.3'))
    assert 'TLSv1.3' in v13.stderr, v13.stderr[-1500:]
    v12 = https(client, vip, DEFAULT, pki, '--tlsv1.2', '--tls-max', '1.2')
    print('TLSv1.3-only listener, TLS 1.2 client:', v12.error())
    assert not v12.ok, v12
    _, done = s_client(client, vip, 443, '-tls1_2')
    assert done.returncode != 0, done.stdout[-1000:]  # openssl s_client -tls1_2 refused too

    good = wait_serving(lambda: https(client, vip, DEFAULT, pki, '--tls-max', '1.2',
                                      '--ciphers', allowed, port=8443))
    assert 'TLSv1.2' in good.stderr and allowed in good.stderr, good.stderr[-1500:]
    refused = https(client, vip, DEFAULT, pki, '--tls-max', '1.2', '--ciphers', other,
                    port=8443)
    print('listener with ciphers %s, client offering only %s:' % (allowed, other),
          refused.error())
    assert not refused.ok, refused
    v13_client = https(client, vip, DEFAULT, pki, '--tlsv1.3', port=8443)
    assert not v13_client.ok, v13_client  # TLSv1.2 only
    api.delete_lb(lb['id'])


# -- re-encryption and monitors ---------------------------------------------------------

def test_members_require_the_load_balancers_client_certificate(pki, tls_members, client):
    """The scene of the re-encryption test, checked directly: tls1 refuses a
    client without a certificate the backend CA signed."""
    address = TLS_MEMBERS['tls1']
    url = 'https://%s:%d/headers' % (address, TLS_PORT)
    without = curl(client, url, '--cacert', pki.files['backend-ca.pem'])
    assert not without.ok, without
    files = pki.files
    direct = curl(client, url, '--cacert', files['backend-ca.pem'],
                  '--cert', files['lb-client.pem'], '--key', files['lb-client.key'])
    assert direct.ok, direct
    assert json.loads(direct.body)['client_cn'] == 'lb-client'
    rogue = curl(client, 'https://%s:%d/' % (TLS_MEMBERS['rogue'], TLS_PORT), '--cacert',
                 files['backend-ca.pem'], '--cert', files['lb-client.pem'],
                 '--key', files['lb-client.key'])
    assert not rogue.ok and rogue.returncode == 60, rogue  # not signed by the backend CA


def test_reencryption_with_client_certificate_and_https_monitor(api, refs, tls_members,
                                                                client):
    pool = traffic.pool('reencrypt', [traffic.member(h, TLS_PORT, name=name)
                                      for name, h in tls_members.items()],
                        tls_enabled=True, ca_tls_container_ref=refs['backend-ca'],
                        tls_container_ref=refs['lb-client'],
                        healthmonitor={'type': 'HTTPS', 'delay': 1, 'timeout': 1,
                                       'max_retries': 1, 'max_retries_down': 1,
                                       'url_path': '/'})
    lb = api.create_lb('tls-reencrypt', [traffic.listener(80, pool)])
    vip = lb['vip_address']
    pool_id = api.pool_by_name(lb, 'reencrypt')['id']
    by_name = {m['name']: m for m in api.members(pool_id)}
    started = time.monotonic()
    for name, wanted in (('tls1', 'ONLINE'), ('tls2', 'ONLINE'), ('rogue', 'ERROR')):
        api.wait_operating('pools/%s/members/%s' % (pool_id, by_name[name]['id']), 'member',
                           wanted, MONITOR_TIMEOUT)
    traffic.record('HTTPS monitor: rogue member ERROR, others ONLINE (s)',
                   time.monotonic() - started)
    seen = set()
    for _ in range(12):
        reply = client.request(traffic.url(vip, 80, '/headers'))
        assert reply.status == 200, reply
        answer = reply.json()
        assert answer['client_cn'] == 'lb-client', answer  # the LB's certificate
        seen.add(answer['name'])
    assert seen == {'tls1', 'tls2'}, seen  # never the member the CA did not sign
    api.delete_lb(lb['id'])


def test_pool_tls_versions_and_ciphers_are_honoured(api, refs, tls_members, client):
    """Re-encryption under TLS 1.2 with one cipher the member's server takes
    and one it does not (RSA key exchange: Python's servers refuse it)."""
    def pool(name, cipher):
        return traffic.pool(name, [traffic.member(tls_members['tls1'], TLS_PORT)],
                            tls_enabled=True, ca_tls_container_ref=refs['backend-ca'],
                            tls_container_ref=refs['lb-client'], tls_versions=['TLSv1.2'],
                            tls_ciphers=cipher,
                            healthmonitor={'type': 'HTTPS', 'delay': 1, 'timeout': 1,
                                           'max_retries': 1, 'max_retries_down': 1,
                                           'url_path': '/'})
    lb = api.create_lb('tls-pool-ciphers', [
        traffic.listener(80, pool('agreed', 'ECDHE-RSA-AES128-GCM-SHA256')),
        traffic.listener(81, pool('disjoint', 'AES128-GCM-SHA256'))])
    vip = lb['vip_address']
    for name, wanted in (('agreed', 'ONLINE'), ('disjoint', 'ERROR')):
        pool_id = api.pool_by_name(lb, name)['id']
        member_id = api.members(pool_id)[0]['id']
        api.wait_operating('pools/%s/members/%s' % (pool_id, member_id), 'member', wanted,
                           MONITOR_TIMEOUT)
    reply = client.request(traffic.url(vip, 80, '/headers'))
    assert reply.status == 200 and reply.json()['client_cn'] == 'lb-client', reply
    refused = client.request(traffic.url(vip, 81, '/'))
    assert refused.status == 503, refused  # no member it can speak TLS with
    api.delete_lb(lb['id'])


def test_tls_hello_monitor_follows_a_members_tls_server(api, tls_members, client):
    hosts = [tls_members['tls1'], tls_members['tls2']]
    pool = traffic.pool('hello', [traffic.member(h, HELLO_PORT) for h in hosts],
                        protocol='HTTPS',
                        healthmonitor={'type': 'TLS-HELLO', 'delay': 1, 'timeout': 1,
                                       'max_retries': 1, 'max_retries_down': 1})
    lb = api.create_lb('tls-hello', [traffic.listener(443, pool, protocol='HTTPS')])
    pool_id = api.pool_by_name(lb, 'hello')['id']
    ids = {m['address']: m['id'] for m in api.members(pool_id)}
    path = 'pools/%s/members/%s' % (pool_id, ids[hosts[1].addresses[0]])
    for host in hosts:
        api.wait_operating('pools/%s/members/%s' % (pool_id, ids[host.addresses[0]]),
                           'member', 'ONLINE', MONITOR_TIMEOUT)
    seen = {client.request('https://%s:443/' % lb['vip_address']).body.strip()
            for _ in range(6)}
    assert seen == {'tls1', 'tls2'}, seen  # passed through to the members' TLS
    hosts[1].stop_backend(HELLO_PORT)
    try:
        down = api.wait_operating(path, 'member', 'ERROR', MONITOR_TIMEOUT)
        traffic.record('TLS-HELLO: stopped member ERROR (s)', down)
    finally:
        hosts[1].start_backend(HELLO_PORT, name='tls2', tls_files=hosts[1].tls_files)
    up = api.wait_operating(path, 'member', 'ONLINE', MONITOR_TIMEOUT)
    traffic.record('TLS-HELLO: restarted member ONLINE (s)', up)
    api.delete_lb(lb['id'])


# -- rotation ----------------------------------------------------------------------------

def test_rotated_certificate_served_without_dropping_a_connection(api, refs, pki, members,
                                                                  client):
    lb = api.create_lb('tls-rotate', [tls_listener(443, refs, web_pool(members))])
    vip = lb['vip_address']
    wait_serving(lambda: https(client, vip, DEFAULT, pki))
    listener_id = api.listener_by_port(lb, 443)['id']
    url = 'https://%s:443/slow?seconds=10' % DEFAULT
    slow = client.popen(curl_argv(url, '--cacert', pki.files['root.pem'],
                                  resolve='%s:443:%s' % (DEFAULT, vip), timeout=40),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)  # the slow request is at the member
        put_at = time.monotonic()
        api.change('PUT', 'listeners/' + listener_id, 'listener',
                   {'default_tls_container_ref': refs[ROTATED]}, lb_id=lb['id'])
        deadline = time.monotonic() + SERVING_TIMEOUT
        while (seen := s_client(client, vip, 443, '-servername', DEFAULT)[0]) != ROTATED:
            assert time.monotonic() < deadline, 'still served: %s' % seen
            time.sleep(0.2)
        traffic.record('TLS rotation: PUT to the new certificate served (s)',
                       time.monotonic() - put_at)
        # The new certificate is served while the old connection is still open.
        assert slow.poll() is None, 'the slow request ended before the rotation was served'
        out, err = slow.communicate(timeout=60)
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait(10)
    answer = Answer(subprocess.CompletedProcess(slow.args, slow.returncode, out, err))
    print('request held across the rotation: %r' % answer)
    assert answer.ok, answer  # finished over the connection opened before the update
    assert answer.body.strip() in {'m1', 'm2'}, answer
    assert 'CN=%s' % DEFAULT in answer.subject  # the certificate before the update
    api.delete_lb(lb['id'])
