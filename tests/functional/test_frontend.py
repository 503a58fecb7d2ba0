"""The API front end against slow, idle and greedy clients, as a user sees it.

One real `lbaas api` (noop drivers, SQLite, a temporary state directory, a
free loopback port, its default two worker processes) with short timeouts:
1 s for headers and for a body, 3 s for an idle connection, and at most
60 connections per client address. Load and greedy clients come from other
loopback addresses (127.0.0.2-127.0.0.7), so each test's client address
has a count of its own.
"""
import collections
import json
import select
import socket
import tempfile
import time

import psutil
import pytest
import requests

from tests.functional import served

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
KEEPALIVE_TIMEOUT = 3.0
PER_CLIENT = 60
LIST = '/v2/lbaas/loadbalancers'


@pytest.fixture(scope='module')
def api():
    """`lbaas api` as a subprocess; yields (host, port)."""
    state_dir = tempfile.mkdtemp(prefix='lbaas-frontend-')
    config = served.write_config(state_dir, sections={'api_settings': {
        'header_timeout': HEADER_TIMEOUT, 'body_timeout': BODY_TIMEOUT,
        'keepalive_timeout': KEEPALIVE_TIMEOUT, 'max_connections_per_client': PER_CLIENT}})
    migrate = served.Proc(['db', 'upgrade', '--config-file', config, '--state-dir', state_dir],
                          state_dir, 'db-upgrade')
    try:
        assert migrate.popen.wait(120) == 0, migrate.tail()
    finally:
        migrate.kill()
    proc, endpoint = served.start_api(state_dir, config)
    try:
        yield endpoint
    finally:
        code, left = proc.stop()
        assert not left, 'workers of lbaas api still running: %s' % left
        assert code == 0, 'lbaas api exited with %s:\n%s' % (code, proc.tail())
        with open(proc.output_path, errors='replace') as f:
            output = f.read()
        assert 'Traceback' not in output, output[-4000:]


def connect(endpoint, source):
    host, port = endpoint.rsplit('/', 1)[-1].split(':')
    sock = socket.create_connection((host, int(port)), timeout=5, source_address=(source, 0))
    return sock


def read_all(sock, timeout=5.0):
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b''.join(chunks)


def read_response(stream):
    """One response (with a Content-Length) from a buffered reader of a connection."""
    head = b''
    while not head.endswith(b'\r\n\r\n'):
        line = stream.readline()
        assert line, 'the server closed the connection after %r' % head
        head += line
    length = int(head.lower().split(b'content-length: ')[1].split(b'\r\n')[0])
    return head + stream.read(length)


def status_and_body(raw):
    head, _, body = raw.partition(b'\r\n\r\n')
    return int(head.split(b' ', 2)[1]), body


def get_list(endpoint, timeout=2.0):
    """A normal client: a new connection, one GET; (status, seconds)."""
    started = time.monotonic()
    status = requests.get(endpoint + LIST, timeout=timeout,
                          headers={'Connection': 'close'}).status_code
    return status, time.monotonic() - started


class Load:
    """Idle sockets (nothing sent) and slowloris sockets (headers never
    finished, a byte at a time), each reopened when the server closes it."""

    PARTIAL = b'GET / HTTP/1.1\r\nHost: test\r\nX-Slow: '

    def __init__(self, endpoint, idle, slow):
        self.endpoint = endpoint
        self.idle = [self._open('127.0.0.2') for _ in range(idle)]
        self.slow = [self._open('127.0.0.3', self.PARTIAL) for _ in range(slow)]
        self.answers = []  # what the server said before closing a slowloris socket

    def _open(self, source, first=b''):
        sock = connect(self.endpoint, source)
        sock.sendall(first)
        return sock

    def top_up(self):
        """Send each slowloris a byte; reopen what the server closed."""
        for group, source, first in ((self.idle, '127.0.0.2', b''),
                                     (self.slow, '127.0.0.3', self.PARTIAL)):
            readable, _, _ = select.select(group, [], [], 0)
            for sock in readable:
                if group is self.slow:
                    self.answers.append(read_all(sock))
                sock.close()
                group[group.index(sock)] = self._open(source, first)
        for sock in self.slow:
            try:
                sock.sendall(b'a')
            except OSError:
                pass  # closed just now: reopened next time

    def close(self):
        for sock in self.idle + self.slow:
            sock.close()


def test_normal_client_answered_beside_idle_and_slowloris_sockets(api):
    load = Load(api, idle=50, slow=50)
    try:
        started = time.monotonic()
        while time.monotonic() - started < 2.5:  # past the 1 s header timeout
            load.top_up()
            status, seconds = get_list(api)
            assert status == 200
            assert seconds < 2.0, 'GET took %.2fs beside 100 slow sockets' % seconds
            time.sleep(0.2)
        load.top_up()
    finally:
        load.close()
    # The slowloris sockets were answered 408 and closed, and opened again.
    assert load.answers and all(status_and_body(a)[0] == 408 for a in load.answers)


def test_half_sent_headers_get_408_then_close(api):
    sock = connect(api, '127.0.0.4')
    try:
        sock.sendall(b'GET %s HTTP/1.1\r\nHost: test\r\nAccept: appl' % LIST.encode())
        started = time.monotonic()
        raw = read_all(sock)
        waited = time.monotonic() - started
    finally:
        sock.close()
    status, body = status_and_body(raw)
    assert status == 408
    assert json.loads(body) == {'faultcode': 'Client', 'faultstring': 'Request Timeout',
                                'debuginfo': None}
    assert HEADER_TIMEOUT * 0.8 < waited < HEADER_TIMEOUT + 2


def test_half_sent_body_gets_408_then_close(api):
    sock = connect(api, '127.0.0.4')
    try:
        sock.sendall(b'POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n'
                     b'Content-Length: 100\r\n\r\n{"loadbalancer": ' % LIST.encode())
        started = time.monotonic()
        raw = read_all(sock)
        waited = time.monotonic() - started
    finally:
        sock.close()
    status, body = status_and_body(raw)
    assert status == 408
    assert json.loads(body)['faultstring'] == 'Request Timeout'
    assert BODY_TIMEOUT * 0.8 < waited < BODY_TIMEOUT + 2


def test_idle_keepalive_connection_is_closed(api):
    sock = connect(api, '127.0.0.4')
    try:
        sock.sendall(b'GET / HTTP/1.1\r\nHost: test\r\n\r\n')
        assert read_response(sock.makefile('rb')).startswith(b'HTTP/1.1 200')
        started = time.monotonic()
        assert read_all(sock, timeout=KEEPALIVE_TIMEOUT + 3) == b''
        assert time.monotonic() - started < KEEPALIVE_TIMEOUT + 2
    finally:
        sock.close()


def test_half_sent_headers_of_a_second_request_get_408(api):
    sock = connect(api, '127.0.0.4')
    try:
        sock.sendall(b'GET / HTTP/1.1\r\nHost: test\r\n\r\n')
        assert read_response(sock.makefile('rb')).startswith(b'HTTP/1.1 200')
        sock.sendall(b'GET / HTTP/1.1\r\nHo')
        started = time.monotonic()
        status, _ = status_and_body(read_all(sock))
        waited = time.monotonic() - started
    finally:
        sock.close()
    assert status == 408
    assert HEADER_TIMEOUT * 0.8 < waited < HEADER_TIMEOUT + 2


def test_pipelined_requests_are_all_answered(api):
    sock = connect(api, '127.0.0.4')
    try:
        sock.sendall(b'GET %s HTTP/1.1\r\nHost: test\r\n\r\n' % LIST.encode() * 3)
        stream = sock.makefile('rb')
        answers = [read_response(stream) for _ in range(3)]
    finally:
        sock.close()
    assert [status_and_body(a)[0] for a in answers] == [200, 200, 200]


def test_connections_beyond_the_per_client_limit_are_refused(api):
    held = [connect(api, '127.0.0.5') for _ in range(PER_CLIENT)]
    try:
        time.sleep(0.5)  # all of them accepted and counted by the workers
        readable, _, _ = select.select(held, [], [], 0)
        assert not readable, 'the server answered or closed connections within the limit'
        extra = connect(api, '127.0.0.5')
        try:
            extra.sendall(b'GET / HTTP/1.1\r\nHost: test\r\n\r\n')
            raw = read_all(extra)
        except ConnectionResetError:
            raw = b''
        finally:
            extra.close()
        assert raw == b'' or status_and_body(raw)[0] == 429
        # Another address is not affected.
        assert get_list(api)[0] == 200
    finally:
        for sock in held:
            sock.close()
    # Closed connections no longer count.
    deadline = time.monotonic() + 5
    while True:
        sock = connect(api, '127.0.0.5')
        try:
            sock.sendall(b'GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n')
            status = status_and_body(read_all(sock))[0]
        finally:
            sock.close()
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status == 200


def test_a_burst_of_keepalive_clients_is_shared_by_the_workers(api):
    # asyncio alone let the first worker awake accept a whole burst, which
    # it then served on one core while the other worker idled. A worker
    # still starting (a loaded machine) takes none: three bursts are tried.
    port = int(api.rsplit(':', 1)[1])
    for _ in range(3):
        held = [connect(api, '127.0.0.7') for _ in range(16)]
        try:
            time.sleep(0.5)  # all accepted
            per_worker = collections.Counter(
                c.pid for c in psutil.net_connections('tcp')
                if c.laddr and c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED)
        finally:
            for sock in held:
                sock.close()
        if len(per_worker) == 2 and min(per_worker.values()) >= 4:
            return
        time.sleep(1)
    raise AssertionError('connections per worker: %s' % per_worker)


def test_request_bodies_still_work(api):
    """A whole body read up front still reaches the app, and a large one gets 413."""
    body = {'loadbalancer': {'name': 'x' * 10, 'vip_subnet_id': 'not-a-subnet'}}
    resp = requests.post(api + LIST, json=body, timeout=5)
    assert resp.status_code == 400 and 'faultstring' in resp.json()
    resp = requests.post(api + LIST, data=b'{' + b' ' * 200000 + b'}', timeout=5,
                         headers={'Content-Type': 'application/json'})
    assert resp.status_code == 413
    # The connection that carried a refused body still serves the next request.
    with requests.Session() as session:
        big = session.post(api + LIST, data=b'{' + b' ' * 200000 + b'}', timeout=5,
                           headers={'Content-Type': 'application/json'})
        assert big.status_code == 413
        assert session.get(api + LIST, timeout=5).status_code == 200


def _refusal(api, request):
    """What the server answers to `request` (sent at once, never finished)."""
    sock = connect(api, '127.0.0.6')
    try:
        sock.sendall(request)
        return status_and_body(read_all(sock))
    finally:
        sock.close()


@pytest.mark.parametrize('request_bytes, status, faultstring', [
    (b'GARBAGE\r\n\r\n', 400, 'Invalid HTTP request: illegal request line'),
    (b'GET / HTTP/1.1\r\n\r\n', 400, 'Invalid HTTP request: Missing mandatory Host: header.'),
    (b'GET / HTTP/1.1\r\nHost: test\r\nBad Header: x\r\n\r\n', 400,
     'Invalid HTTP request: illegal header line'),
    (b'GET /' + b'a' * 20000, 414, 'Invalid HTTP request: the request line is too long.'),
    (b'GET / HTTP/1.1\r\nHost: test\r\nX-Big: ' + b'a' * 20000, 431,
     'Invalid HTTP request: the request headers are too long.'),
])
def test_requests_the_server_cannot_parse_get_octavias_fault_body(
        api, request_bytes, status, faultstring):
    got, body = _refusal(api, request_bytes)
    assert got == status, body
    fault = json.loads(body)
    assert fault['faultcode'] == 'Client' and fault['debuginfo'] is None
    assert fault['faultstring'].startswith(faultstring), fault


def test_gthread_front_end_errors_are_octavias_fault_body_too():
    """gunicorn's own refusals under `frontend = gthread`, whose page is HTML."""
    state_dir = tempfile.mkdtemp(prefix='lbaas-gthread-')
    config = served.write_config(state_dir, sections={'api_settings': {'frontend': 'gthread'}})
    proc, endpoint = served.start_api(state_dir, config)
    try:
        for request, status in ((b'GARBAGE\r\n\r\n', 400),
                                (b'GET /' + b'a' * 5000 + b' HTTP/1.1\r\n\r\n', 414)):
            got, body = _refusal(endpoint, request)
            assert got == status, body
            fault = json.loads(body)
            assert fault['faultcode'] == 'Client' and fault['debuginfo'] is None
            assert fault['faultstring'].startswith('Invalid HTTP request: '), fault
    finally:
        code, left = proc.stop()
    assert code == 0 and not left, proc.tail()


def test_an_app_that_fails_before_answering_gets_a_json_500():
    """uvicorn's own 500 is text/plain: the front end answers first."""
    import asyncio

    from lbaas.api import frontend

    def broken(environ, start_response):
        raise RuntimeError('broken')

    app = frontend.WholeRequests(broken, frontend.Limits(1.0, 1.0, 1.0, 1000), threads=1)
    sent = []

    async def receive():
        return {'type': 'http.request', 'body': b'', 'more_body': False}

    async def send(message):
        sent.append(message)

    scope = {'type': 'http', 'method': 'GET', 'path': '/', 'raw_path': b'/',
             'query_string': b'', 'headers': [], 'root_path': '', 'scheme': 'http',
             'server': ('127.0.0.1', 80), 'client': ('127.0.0.1', 1), 'http_version': '1.1',
             'asgi': {'version': '3.0'}}
    asyncio.run(app(scope, receive, send))
    assert sent[0]['status'] == 500
    assert json.loads(sent[1]['body']) == {
        'faultcode': 'Server', 'faultstring': 'Internal Server Error', 'debuginfo': None}
