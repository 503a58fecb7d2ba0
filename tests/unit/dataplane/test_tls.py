"""TLS references -> bundle file names and the TLS parts of the view."""
from lbaas.dataplane import tls
from lbaas.dataplane import viewmodel as vm
from lbaas.db import models

CERT, SNI, CA, CRL = ('http://kms/v1/secrets/%s' % n for n in ('cert', 'sni', 'ca', 'crl'))


def listener(**fields):
    values = dict(protocol='TERMINATED_HTTPS', default_tls_container_id=CERT,
                  sni_container_refs=[SNI], client_authentication='MANDATORY',
                  client_ca_tls_certificate_id=CA, client_crl_container_id=CRL,
                  tls_versions=['TLSv1.3'], tls_ciphers='TLS_AES_128_GCM_SHA256',
                  alpn_protocols=['h2', 'http/1.1'], hsts_max_age=300)
    values.update(fields)
    return models.Listener(**values)


def test_names_depend_on_role_and_reference_only():
    assert tls.tls_file(tls.Role.CERTIFICATE, CERT) == tls.tls_file(tls.Role.CERTIFICATE, CERT)
    assert tls.tls_file(tls.Role.CA, CERT).name != tls.tls_file(tls.Role.CERTIFICATE, CERT).name
    assert tls.tls_file(tls.Role.CA, CA).bundle_path.startswith('certs/ca-')


def test_listener_view_names_every_file_it_needs():
    row = listener()
    view = tls.listener_tls(row)
    names = {f.name for f in tls.listener_refs(row)}
    assert view is not None
    assert {view.default_cert, *view.sni_certs, view.client_ca, view.client_crl} == names
    assert view.client_auth == vm.ClientAuth.MANDATORY
    assert view.versions == ('TLSv1.3',) and view.alpn == ('h2', 'http/1.1')
    assert view.hsts_max_age == 300


def test_a_crl_without_a_ca_is_not_used():
    row = listener(client_ca_tls_certificate_id=None, client_authentication='NONE')
    view = tls.listener_tls(row)
    assert view is not None and view.client_ca is None and view.client_crl is None
    assert [f.role for f in tls.listener_refs(row)] == [tls.Role.CERTIFICATE] * 2


def test_plain_listeners_and_prometheus_without_certificates_have_no_tls():
    assert tls.listener_tls(listener(protocol='HTTP', default_tls_container_id=None,
                                     sni_container_refs=[])) is None
    prometheus = listener(protocol='PROMETHEUS', default_tls_container_id=None,
                          sni_container_refs=[])
    assert tls.listener_tls(prometheus) is None
    assert tls.listener_tls(listener(protocol='PROMETHEUS')) is not None


def test_pool_reencryption():
    pool = models.Pool(tls_enabled=True, tls_certificate_id=CERT, ca_tls_certificate_id=CA,
                       crl_container_id=CRL, tls_versions=['TLSv1.2'], alpn_protocols=['h2'])
    view = tls.pool_tls(pool)
    assert view is not None
    assert {view.client_cert, view.ca_cert, view.crl} == {f.name for f in tls.pool_refs(pool)}
    assert tls.pool_tls(models.Pool(tls_enabled=False, tls_certificate_id=CERT)) is None
    assert tls.pool_refs(models.Pool(tls_enabled=False, tls_certificate_id=CERT)) == []
