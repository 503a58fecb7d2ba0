"""A test PKI for the TLS scenarios and benchmark, made with `cryptography`.

    root CA ── intermediate CA ─┬─ www.example.test      (SNI)
                                ├─ api.example.test      (SNI)
                                ├─ default.example.test  (default certificate)
                                └─ rotated.example.test  (the default, rotated)
    client CA ─┬─ alice   (valid client certificate)
               ├─ mallory (revoked: on the client CA's CRL)
               └─ CRL
    backend CA ─┬─ member certificates (the members' addresses as IP SANs)
                └─ lb-client (what the load balancer shows the members)
    rogue CA ──── a member certificate nobody trusts

Server certificates go to the key manager as PKCS12 bundles without a
passphrase (certificate, key and the intermediate: what
`openssl pkcs12 -export -inkey k -in c -certfile chain -passout pass:` makes);
CAs and CRLs as PEM text. `Pki.write(dir)` puts the PEM files the clients
(curl, openssl s_client, the member backends) need on disk.

Keys are RSA 2048 (what a cookbook user has; the cipher tests name
ECDHE-RSA suites). Making the whole PKI takes about a second.
"""
import base64
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAMES = ('www.example.test', 'api.example.test', 'default.example.test',
                'rotated.example.test')
ONE_DAY = datetime.timedelta(days=1)


def _key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name, organization='lbaas tests'):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Identity:
    """A certificate, its key, and the chain above it (without the root)."""

    def __init__(self, certificate, key, chain=()):
        self.certificate, self.key, self.chain = certificate, key, list(chain)

    @property
    def common_name(self):
        return self.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value

    @property
    def serial(self):
        return self.certificate.serial_number

    def cert_pem(self):
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def chain_pem(self):
        """Certificate then intermediates: what a server sends."""
        return self.cert_pem() + b''.join(
            c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.TraditionalOpenSSL,
                                      serialization.NoEncryption())

    def pkcs12(self):
        """The PKCS12 bundle, no passphrase."""
        return pkcs12.serialize_key_and_certificates(
            name=self.common_name.encode(), key=self.key, cert=self.certificate,
            cas=self.chain or None, encryption_algorithm=serialization.NoEncryption())

    def mismatched_pkcs12(self):
        """A PKCS12 bundle holding this certificate and chain with another
        key: what `openssl pkcs12 -export -nocerts -inkey other.key -certfile
        cert.pem -passout pass:` makes (-in refuses a key that does not match).
        OpenSSL's parser then finds no certificate for the key."""
        return pkcs12.serialize_key_and_certificates(
            name=self.common_name.encode(), key=_key(), cert=None,
            cas=[self.certificate] + self.chain,
            encryption_algorithm=serialization.NoEncryption())

    def pkcs12_base64(self):
        return base64.b64encode(self.pkcs12()).decode()


class Authority(Identity):
    """A CA that signs leaves (and can revoke them on its CRL)."""

    def __init__(self, common_name, parent=None):
        key = _key()
        issuer_name = parent.certificate.subject if parent else _name(common_name)
        builder = _builder(_name(common_name), issuer_name, key.public_key(), days=3650)
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                        critical=True)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        signer = parent.key if parent else key
        certificate = builder.sign(signer, hashes.SHA256())
        chain = ([parent.certificate] + parent.chain) if parent else []
        super().__init__(certificate, key, chain if parent and parent.chain else [])
        self.parent = parent
        self.revoked = []

    def issue(self, common_name, dns=(), ips=(), client=False, server=True):
        key = _key()
        builder = _builder(_name(common_name), self.certificate.subject, key.public_key(),
                           days=365)
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                        critical=True)
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + \
            ([ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        names = [x509.DNSName(d) for d in dns] + \
            [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            self.key.public_key()), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        # The chain a server sends: this CA when it is an intermediate.
        chain = [self.certificate] + self.chain if self.parent else []
        return Identity(certificate, key, chain)

    def revoke(self, identity):
        self.revoked.append(identity.serial)

    def crl_pem(self):
        now = datetime.datetime.now(datetime.UTC)
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(self.certificate.subject)
                   .last_update(now - ONE_DAY).next_update(now + 30 * ONE_DAY))
        for serial in self.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial)
                .revocation_date(now - ONE_DAY).build())
        crl = builder.sign(self.key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.PEM)


def _builder(subject, issuer, public_key, days):
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - ONE_DAY).not_valid_after(now + days * ONE_DAY))


class Pki:
    """Everything the TLS tests need; `member_addresses` get certificates."""

    def __init__(self, member_addresses=()):
        self.root = Authority('lbaas test root CA')
        self.intermediate = Authority('lbaas test intermediate CA', parent=self.root)
        self.servers = {name: self.intermediate.issue(name, dns=[name])
                        for name in SERVER_NAMES}
        self.client_ca = Authority('lbaas test client CA')
        self.alice = self.client_ca.issue('alice', client=True, server=False)
        self.mallory = self.client_ca.issue('mallory', client=True, server=False)
        self.client_ca.revoke(self.mallory)
        self.backend_ca = Authority('lbaas test backend CA')
        self.members = {address: self.backend_ca.issue('member-%s' % address, ips=[address])
                        for address in member_addresses}
        self.lb_client = self.backend_ca.issue('lb-client', client=True, server=False)
        self.rogue_ca = Authority('lbaas test rogue CA')
        self.rogue_members = {address: self.rogue_ca.issue('rogue-%s' % address,
                                                           ips=[address])
                              for address in member_addresses}

    def server(self, name):
        return self.servers[name]

    def write(self, directory):
        """PEM files for the clients and member backends; returns {label: path}.

        root.pem: what a client trusts for the listeners' certificates;
        alice.pem/.key, mallory.pem/.key: client certificates;
        backend-ca.pem: what members trust for the LB's client certificate;
        member-<addr>.pem/.key, rogue-<addr>.pem/.key: members' certificates.
        """
        os.makedirs(directory, exist_ok=True)
        files = {}

        def put(label, data):
            path = os.path.join(directory, label)
            with open(path, 'wb') as f:
                f.write(data)
            files[label] = path

        put('root.pem', self.root.cert_pem())
        put('backend-ca.pem', self.backend_ca.cert_pem())
        for label, identity in (('alice', self.alice), ('mallory', self.mallory),
                                ('lb-client', self.lb_client)):
            put(label + '.pem', identity.chain_pem())
            put(label + '.key', identity.key_pem())
        for address, identity in self.members.items():
            put('member-%s.pem' % address, identity.chain_pem())
            put('member-%s.key' % address, identity.key_pem())
        for address, identity in self.rogue_members.items():
            put('rogue-%s.pem' % address, identity.chain_pem())
            put('rogue-%s.key' % address, identity.key_pem())
        for name, identity in self.servers.items():
            put(name + '.p12', identity.pkcs12())
        return files


def subject_cn(der):
    """The common name of a DER certificate (what a client saw)."""
    certificate = x509.load_der_x509_certificate(der)
    return certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


# -- the key manager (Barbican's API, served by lbaas at <endpoint>/v1) ------------------

OCTET_STREAM, TEXT = 'application/octet-stream', 'text/plain'


def store_secret(session, endpoint, name, payload, content_type=OCTET_STREAM):
    """POST /v1/secrets as `session` (its X-Project-Id); the secret's href.

    Binary payloads (PKCS12) go base64-encoded, PEM text as text/plain: what
    `openstack secret store -t ... [-e base64]` sends.
    """
    body = {'name': name, 'payload_content_type': content_type}
    if content_type == OCTET_STREAM:
        body.update(payload=base64.b64encode(payload).decode(),
                    payload_content_encoding='base64')
    else:
        body['payload'] = payload.decode() if isinstance(payload, bytes) else payload
    resp = session.post(endpoint.rstrip('/') + '/v1/secrets', json=body, timeout=30)
    assert resp.status_code == 201, 'POST /v1/secrets: %d %s' % (resp.status_code,
                                                                  resp.text[:500])
    return resp.json()['secret_ref']
