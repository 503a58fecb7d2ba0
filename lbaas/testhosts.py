"""Test hosts: member and client namespaces on the netns fabric's networks.

A `TestHost` is a namespace `member-...` or `client-...` with one veth onto
a local network's bridge in the fabric, holding the given addresses (each
must lie in a configured local subnet) and nothing else: no default route,
so nothing in it reaches beyond the fabric. It runs small HTTP backends
(`python -m lbaas.testhosts serve`) and makes requests from inside, with
sockets opened in the namespace. `close()` stops what it started and
removes the namespace. Used by the scenario tests, `lbaas demo` and the
benchmarks.

The backend answers every request with its name, and:
  /headers            a JSON object: name, peer address, request headers (and
                      over TLS the client certificate's subject CN, if any)
  /slow?seconds=S     the same answer after S seconds (holds a connection)
  ?set-cookie=NAME    sets cookie NAME=<name>-<counter> on the answer
"""
import argparse
import asyncio
import hashlib
import http.client
import ipaddress
import itertools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

from lbaas.drivers.netns import netlink, processes

HOST_PREFIXES = ('member-', 'client-')
INNER_IFNAME = 'eth0'
READY_TIMEOUT = 10.0
HOST_SYSCTLS = {'net/ipv6/conf/all/accept_ra': 0, 'net/ipv6/conf/default/accept_ra': 0}


class Reply:
    """One HTTP answer, read whole: status, lower-cased headers, text body,
    and over https the server's certificate (DER)."""

    def __init__(self, status, headers, body, certificate=None):
        self.status, self.headers, self.body = status, headers, body
        self.certificate = certificate

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return 'Reply(%d, %r)' % (self.status, self.body[:60])


class TestHost:
    """A namespace on `fabric`'s bridge for the network of `addresses`."""

    def __init__(self, fabric, name, addresses):
        if not name.startswith(HOST_PREFIXES):
            raise ValueError('a test host is named member-... or client-...: %r' % name)
        self.fabric, self.name, self.namespace = fabric, name, name
        self.addresses = [str(ipaddress.ip_address(a)) for a in addresses]
        # A port name the fabric's amphora ports (<8 hex>-...) can never take.
        self.port_name = 'th-' + hashlib.sha1(name.encode()).hexdigest()[:10]
        self.backends = {}  # port -> Popen
        with_prefix, bridge = self._placement()
        try:
            netlink.create_namespace(self.namespace)
            netlink.write_sysctls(self.namespace, HOST_SYSCTLS)
            fabric.attach(self.namespace, INNER_IFNAME, self.port_name, bridge, with_prefix)
        except BaseException:
            self.close()
            raise

    def _placement(self):
        """[(address, prefixlen)] and the bridge of their (single) network."""
        with_prefix, networks = [], set()
        for address in self.addresses:
            subnets = self.fabric.subnets_containing(address)
            if not subnets:
                raise ValueError('%s is in no configured local subnet' % address)
            with_prefix.append((address, subnets[0].cidr.prefixlen))
            networks.add(subnets[0].network_id)
        if len(networks) != 1:
            raise ValueError('a test host sits on one network; got %s' % sorted(networks))
        return with_prefix, self.fabric.bridge_for(networks.pop())

    # -- processes -----------------------------------------------------------------

    def popen(self, argv, **kwargs):
        """Start `argv` inside the namespace, in its own session."""
        command = [shutil.which('ip') or '/usr/sbin/ip', 'netns', 'exec', self.namespace]
        return subprocess.Popen(command + list(argv), start_new_session=True,
                                stdin=subprocess.DEVNULL, **kwargs)

    def run(self, argv, timeout=30.0):
        """Run `argv` inside the namespace to its end; a CompletedProcess."""
        child = self.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(child)
            raise
        return subprocess.CompletedProcess(argv, child.returncode, out, err)

    def start_backend(self, port, name=None, tls_files=None, client_ca=None):
        """An HTTP backend answering with `name` (default: the host's name).

        `tls_files` = (certificate, key) makes it HTTPS; `client_ca` (a PEM
        file) then requires a client certificate it signs. Returns when it
        answers.
        """
        argv = [sys.executable, '-m', 'lbaas.testhosts', 'serve',
                '--name', name or self.name, '--port', str(port)]
        if tls_files:
            argv += ['--tls-cert', tls_files[0], '--tls-key', tls_files[1]]
        if client_ca:
            argv += ['--tls-client-ca', client_ca]
        self.stop_backend(port)
        self.backends[port] = self.popen(argv, stdout=subprocess.DEVNULL)
        self._wait_listening(port)

    def stop_backend(self, port):
        child = self.backends.pop(port, None)
        if child is not None:
            _kill_group(child)

    def _wait_listening(self, port):
        address = self.addresses[0]
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if self.backends[port].poll() is not None:
                raise RuntimeError('backend on %s:%d exited with %s'
                                   % (self.name, port, self.backends[port].returncode))
            try:
                self.open_socket(address, port, timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    # -- client ----------------------------------------------------------------------

    def open_socket(self, host, port, source=None, timeout=5.0):
        """A TCP connection from inside the namespace (from `source` if given)."""
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        sock = netlink.run_in_namespace(self.namespace, socket.socket, family,
                                        socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            if source:
                sock.bind((source, 0))
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return sock

    def request(self, url, method='GET', headers=None, body=None, source=None,
                timeout=5.0):
        """One request on a new connection (`Connection: close`); a Reply.

        http and https URLs (https is not verified: members' own certificates).
        Network errors are raised, as OSError or http.client exceptions.
        """
        parts = urllib.parse.urlsplit(url)
        tls = parts.scheme == 'https'
        port = parts.port or (443 if tls else 80)
        connection = _Connection(self, parts.hostname, port, source, tls, timeout)
        try:
            target = parts.path or '/'
            if parts.query:
                target += '?' + parts.query
            sent = {'Connection': 'close', **(headers or {})}
            connection.request(method, target, body=body, headers=sent)
            answer = connection.getresponse()
            text = answer.read().decode('utf-8', 'replace')
            return Reply(answer.status, {k.lower(): v for k, v in answer.getheaders()}, text,
                         connection.certificate)
        finally:
            connection.close()

    # -- end -------------------------------------------------------------------------

    def close(self):
        """Stop everything started in the namespace and remove it, port included."""
        for port in list(self.backends):
            self.stop_backend(port)
        if netlink.namespace_exists(self.namespace):
            leftovers = processes.pids_in_namespace(self.namespace)
            processes.terminate(leftovers, timeout=2.0)
        self.fabric.detach(self.port_name)
        netlink.remove_namespace(self.namespace)


class _Connection(http.client.HTTPConnection):
    """http.client over a socket opened inside a test host's namespace."""

    def __init__(self, testhost, host, port, source, tls, timeout):
        super().__init__(host, port, timeout=timeout)
        self.testhost, self.source, self.tls = testhost, source, tls
        self.certificate = None

    def connect(self):
        sock = self.testhost.open_socket(self.host, self.port, self.source, self.timeout)
        if self.tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            sock = context.wrap_socket(sock)
            self.certificate = sock.getpeercert(binary_form=True)
        self.sock = sock


def _kill_group(child):
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait(10)


# -- the backend -----------------------------------------------------------------------

class Backend:
    """A small asyncio HTTP/1.1 server with keep-alive (thousands of req/s)."""

    def __init__(self, name):
        self.name = name
        self.cookies = itertools.count(1)

    async def serve(self, port, tls_context=None, reuse_port=False):
        # host=None binds every address of both families in the namespace.
        # reuse_port lets several processes share the port (the kernel spreads
        # connections over them), for a faster member than one process gives.
        server = await asyncio.start_server(self.handle, host=None, port=port,
                                            ssl=tls_context, backlog=1024,
                                            reuse_address=True, reuse_port=reuse_port)
        async with server:
            await server.serve_forever()

    async def handle(self, reader, writer):
        peer = writer.get_extra_info('peername')[0]
        client_cn = _subject_cn(writer.get_extra_info('peercert'))
        try:
            while await self._one_exchange(reader, writer, peer, client_cn):
                pass
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                ValueError, ssl.SSLError):
            pass  # the client went away, or sent garbage: just close
        finally:
            writer.close()

    async def _one_exchange(self, reader, writer, peer, client_cn=None):
        head = (await reader.readuntil(b'\r\n\r\n')).decode('latin-1')
        request_line, *header_lines = head.split('\r\n')
        method, target, version = request_line.split(' ', 2)
        headers = {}
        for line in filter(None, header_lines):
            key, _, value = line.partition(':')
            headers[key.strip()] = value.strip()
        lowered = {k.lower(): v for k, v in headers.items()}
        await reader.readexactly(int(lowered.get('content-length') or 0))
        status, extra, body = await self.answer(target, headers, peer, client_cn)
        keep_alive = (lowered.get('connection', '').lower() != 'close'
                      and version == 'HTTP/1.1')
        lines = ['HTTP/1.1 %s' % status, 'Content-Type: text/plain',
                 'Content-Length: %d' % len(body), 'X-Backend: %s' % self.name,
                 'Connection: %s' % ('keep-alive' if keep_alive else 'close')]
        lines += ['%s: %s' % item for item in extra]
        payload = b'' if method == 'HEAD' else body
        writer.write(('\r\n'.join(lines) + '\r\n\r\n').encode('latin-1') + payload)
        await writer.drain()
        return keep_alive

    async def answer(self, target, headers, peer, client_cn=None):
        """(status line, [(header, value)], body bytes) for one request."""
        parts = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(parts.query)
        extra = []
        if 'set-cookie' in query:
            cookie = query['set-cookie'][0]
            extra.append(('Set-Cookie', '%s=%s-%d; Path=/' % (cookie, self.name,
                                                             next(self.cookies))))
        if parts.path == '/headers':
            text = json.dumps({'name': self.name, 'peer': peer, 'headers': headers,
                               'client_cn': client_cn})
            return '200 OK', extra, (text + '\n').encode()
        if parts.path == '/slow':
            await asyncio.sleep(min(float(query.get('seconds', ['1'])[0]), 60.0))
        return '200 OK', extra, (self.name + '\n').encode()


def _subject_cn(peercert):
    """commonName of a certificate as ssl's getpeercert() gives it, or None."""
    for rdn in (peercert or {}).get('subject', ()):
        for key, value in rdn:
            if key == 'commonName':
                return value
    return None


def _serve(args):
    tls_context = None
    if args.tls_cert:
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca:
            tls_context.verify_mode = ssl.CERT_REQUIRED
            tls_context.load_verify_locations(args.tls_client_ca)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(Backend(args.name).serve(args.port, tls_context, args.reuse_port))


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python -m lbaas.testhosts')
    sub = parser.add_subparsers(dest='command', required=True)
    serve = sub.add_parser('serve', help='run an HTTP backend that answers with its name')
    serve.add_argument('--name', required=True)
    serve.add_argument('--port', type=int, required=True)
    serve.add_argument('--tls-cert', help='PEM certificate: serve HTTPS')
    serve.add_argument('--tls-key', help='PEM key of --tls-cert')
    serve.add_argument('--tls-client-ca',
                       help='PEM CA file: require a client certificate it signed')
    serve.add_argument('--reuse-port', action='store_true',
                       help='SO_REUSEPORT: several backends may share the port')
    args = parser.parse_args(argv)
    _serve(args)


if __name__ == '__main__':
    main()
