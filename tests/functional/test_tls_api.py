"""TLS references refused through the API, as Octavia refuses them.

Secrets are stored in the key manager lbaas serves (`/v1/secrets`, Barbican's
API) by the project that uses them. A listener or pool naming a reference
the caller's project cannot read (another project's secret, a garbage
reference) or whose content is not a usable certificate (a PKCS12 whose key
does not match its certificate, a CA that is not PEM) gets 400 with
Octavia's "Could not retrieve certificate: [...]" family of messages, and
nothing is created. The valid reference next to each refusal is accepted,
so the refusals are about the reference, not the rest of the body.
"""
import uuid

import pytest

from tests.functional.conftest import fault, new_member
from tests.scenario import pki as tls

WWW = 'www.example.test'


@pytest.fixture(scope='module')
def authority():
    return tls.Pki()


def store(caller, name, payload, kind=tls.OCTET_STREAM):
    return tls.store_secret(caller.session, caller.base, name, payload, kind)


@pytest.fixture(scope='module')
def refs(owner, authority):
    """The owner's secrets: {label: href}."""
    return {'www': store(owner, 'www', authority.server(WWW).pkcs12()),
            'mismatched': store(owner, 'mismatched',
                                authority.server(WWW).mismatched_pkcs12()),
            'client-ca': store(owner, 'client-ca', authority.client_ca.cert_pem(), tls.TEXT),
            'not-pem': store(owner, 'not-pem', b'this is no certificate', tls.TEXT)}


@pytest.fixture(scope='module')
def foreign(service, authority):
    """A PKCS12 secret of another project."""
    return store(new_member(service), 'theirs', authority.server(WWW).pkcs12())


def listeners_of(owner, lb):
    return owner.show('listeners?loadbalancer_id=' + lb['id'], 'listeners')


def pools_of(owner, lb):
    return owner.show('pools?loadbalancer_id=' + lb['id'], 'pools')


def refused(resp):
    text = fault(resp, 400)
    assert 'certificate' in text.lower(), text
    return text


def terminated(lb, port=443, **fields):
    return {'listener': {'loadbalancer_id': lb['id'], 'protocol': 'TERMINATED_HTTPS',
                         'protocol_port': port, **fields}}


def test_secret_store_answers_a_reference_its_project_can_read(owner, refs):
    resp = owner.session.get(refs['www'])
    assert resp.status_code == 200, resp.text
    assert resp.json()['name'] == 'www'


def test_listener_with_a_valid_reference_is_created(owner, shared_lb, refs):
    resp = owner.post('listeners', terminated(shared_lb, 1443,
                                              default_tls_container_ref=refs['www']))
    assert resp.status_code == 201, resp.text
    listener = resp.json()['listener']
    assert listener['default_tls_container_ref'] == refs['www']
    owner.wait_lb(shared_lb['id'])
    owner.remove('listeners/' + listener['id'], shared_lb['id'])


@pytest.mark.parametrize('case', ['another-project', 'garbage', 'unknown-href',
                                  'mismatched-key'])
def test_listener_with_an_unusable_certificate_is_refused(owner, shared_lb, refs, foreign,
                                                          case):
    ref = {'another-project': foreign,
           'garbage': 'not-a-reference',
           'unknown-href': refs['www'].rsplit('/', 1)[0] + '/' + str(uuid.uuid4()),
           'mismatched-key': refs['mismatched']}[case]
    text = refused(owner.post('listeners', terminated(shared_lb,
                                                      default_tls_container_ref=ref)))
    print('%s: %s' % (case, text))
    if case != 'mismatched-key':
        assert ref in text, text  # Octavia names the reference
    assert listeners_of(owner, shared_lb) == []


def test_sni_and_client_ca_references_are_checked_too(owner, shared_lb, refs, foreign):
    refused(owner.post('listeners', terminated(
        shared_lb, default_tls_container_ref=refs['www'], sni_container_refs=[foreign])))
    refused(owner.post('listeners', terminated(
        shared_lb, default_tls_container_ref=refs['www'],
        client_ca_tls_container_ref='not-a-reference', client_authentication='MANDATORY')))
    refused(owner.post('listeners', terminated(
        shared_lb, default_tls_container_ref=refs['www'],
        client_ca_tls_container_ref=refs['not-pem'], client_authentication='MANDATORY')))
    assert listeners_of(owner, shared_lb) == []


def test_update_to_an_unusable_reference_is_refused_and_changes_nothing(owner, shared_lb,
                                                                        refs, foreign):
    listener = owner.create('listeners', 'listener', terminated(
        shared_lb, 2443, default_tls_container_ref=refs['www'])['listener'], shared_lb['id'])
    try:
        refused(owner.put('listeners/' + listener['id'],
                          {'listener': {'default_tls_container_ref': foreign}}))
        shown = owner.show('listeners/' + listener['id'], 'listener')
        assert shown['default_tls_container_ref'] == refs['www']
        assert shown['provisioning_status'] == 'ACTIVE'
    finally:
        owner.remove('listeners/' + listener['id'], shared_lb['id'])


def test_pool_tls_references_are_checked(owner, shared_lb, refs, foreign):
    def pool(**fields):
        return {'pool': {'loadbalancer_id': shared_lb['id'], 'protocol': 'HTTP',
                         'lb_algorithm': 'ROUND_ROBIN', 'tls_enabled': True, **fields}}
    refused(owner.post('pools', pool(tls_container_ref=foreign)))
    refused(owner.post('pools', pool(tls_container_ref='not-a-reference')))
    refused(owner.post('pools', pool(tls_container_ref=refs['mismatched'])))
    refused(owner.post('pools', pool(ca_tls_container_ref='not-a-reference')))
    assert pools_of(owner, shared_lb) == []
    created = owner.create('pools', 'pool', pool(ca_tls_container_ref=refs['client-ca'],
                                                 tls_container_ref=refs['www'])['pool'],
                           shared_lb['id'])
    owner.remove('pools/' + created['id'], shared_lb['id'])
