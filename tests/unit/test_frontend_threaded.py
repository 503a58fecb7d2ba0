"""api/threaded.py: the WSGI app in a thread, one hand-off each way."""
import asyncio
import contextvars
import gc
import threading

import pytest

from lbaas.api import threaded


def _scope(**overrides):
    scope = {'type': 'http', 'method': 'POST', 'path': '/v2/lbaas/caf\u00e9',
             'raw_path': b'/v2/lbaas/caf%C3%A9', 'query_string': b'a=1&b=%20',
             'root_path': '', 'scheme': 'http', 'server': ('127.0.0.1', 9876),
             'client': ('10.0.0.7', 41000), 'http_version': '1.1',
             'headers': [(b'host', b'example'), (b'content-type', b'application/json'),
                         (b'content-length', b'2'), (b'x-roles', b'member'),
                         (b'x-roles', b'reader'), (b'accept-language', b'fr')],
             'asgi': {'version': '3.0'}}
    scope.update(overrides)
    return scope


def test_environ_has_what_the_app_reads():
    environ = threaded.build_environ(_scope(), b'{}')
    assert environ['REQUEST_METHOD'] == 'POST'
    assert environ['PATH_INFO'] == '/v2/lbaas/caf\u00c3\u00a9'  # UTF-8 bytes as latin-1
    assert environ['SCRIPT_NAME'] == ''
    assert environ['QUERY_STRING'] == 'a=1&b=%20'
    assert environ['SERVER_PROTOCOL'] == 'HTTP/1.1'
    assert (environ['SERVER_NAME'], environ['SERVER_PORT']) == ('127.0.0.1', '9876')
    assert (environ['REMOTE_ADDR'], environ['REMOTE_PORT']) == ('10.0.0.7', '41000')
    assert environ['CONTENT_TYPE'] == 'application/json'
    assert environ['CONTENT_LENGTH'] == '2'
    assert environ['HTTP_X_ROLES'] == 'member,reader'  # repeated headers folded
    assert environ['HTTP_ACCEPT_LANGUAGE'] == 'fr'
    assert environ['wsgi.input'].read() == b'{}'
    assert environ['wsgi.input_terminated'] is True
    assert environ['wsgi.url_scheme'] == 'http'


def test_root_path_becomes_script_name():
    environ = threaded.build_environ(
        _scope(root_path='/load-balancer', path='/load-balancer/v2'), b'')
    assert (environ['SCRIPT_NAME'], environ['PATH_INFO']) == ('/load-balancer', '/v2')


def test_environ_is_a2wsgis():
    """The app sees the environ a2wsgi (the former adapter) gave it."""
    a2wsgi = pytest.importorskip('a2wsgi.wsgi')
    for scope in (_scope(), _scope(root_path='/lb', path='/lb/x', client=None, server=None)):
        ours = threaded.build_environ(scope, b'{}')
        theirs = a2wsgi.build_environ(scope, a2wsgi.Body(None, None))
        for environ in (ours, theirs):
            environ.pop('wsgi.input')
        assert ours.pop('wsgi.input_terminated') is True
        assert ours == theirs


def _serve(app, scope=None, body=b''):
    sent = []

    async def send(message):
        sent.append(message)

    wsgi = threaded.ThreadedWSGI(app, threads=2)
    asyncio.run(wsgi(scope or _scope(), body, send))
    return sent


def test_the_response_goes_out_whole_in_two_messages():
    seen = {}

    def app(environ, start_response):
        seen['thread'] = threading.current_thread()
        write = start_response('201 Created', [('Content-Type', 'application/json'),
                                               (' X-Openstack-Request-Id ', ' req-1 ')])
        write(b'{"a"')
        return [b'', b': 1', b'}']

    sent = _serve(app)
    assert sent == [
        {'type': 'http.response.start', 'status': 201,
         'headers': [(b'content-type', b'application/json'),
                     (b'x-openstack-request-id', b'req-1')]},
        {'type': 'http.response.body', 'body': b'{"a": 1}', 'more_body': False}]
    assert seen['thread'] is not threading.main_thread()


def test_the_apps_iterable_is_closed_and_the_body_read():
    closed = []

    class Body(list):
        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response('200 OK', [])
        return Body([environ['wsgi.input'].read()])

    assert _serve(app, body=b'payload')[1]['body'] == b'payload'
    assert closed == [True]


def test_an_error_reaches_the_caller_before_anything_is_sent():
    def app(environ, start_response):
        start_response('200 OK', [])
        raise RuntimeError('broken')

    sent = []

    async def send(message):
        sent.append(message)

    with pytest.raises(RuntimeError, match='broken'):
        asyncio.run(threaded.ThreadedWSGI(app, threads=1)(_scope(), b'', send))
    assert sent == []


def test_an_app_that_never_starts_a_response_is_an_error():
    with pytest.raises(RuntimeError, match='without starting'):
        _serve(lambda environ, start_response: [b'x'])


def test_context_variables_of_the_loop_reach_the_app():
    var = contextvars.ContextVar('var', default='unset')
    seen = []

    def app(environ, start_response):
        seen.append(var.get())
        var.set('changed by the app')
        start_response('204 No Content', [])
        return []

    async def main():
        var.set('from the loop')
        wsgi = threaded.ThreadedWSGI(app, threads=1)

        async def send(message):
            pass

        await wsgi(_scope(), b'', send)
        return var.get()

    assert asyncio.run(main()) == 'from the loop'  # the app's change stays its own
    assert seen == ['from the loop']


def test_the_pool_runs_calls_in_its_threads_and_returns_their_results():
    pool = threaded.Pool(2, name='probe')

    def where(n):
        return n, threading.current_thread().name

    async def main():
        return await asyncio.gather(*(pool.run(where, n) for n in range(8)))

    results = asyncio.run(main())
    assert [n for n, _ in results] == list(range(8))
    assert {name for _, name in results} <= {'probe_0', 'probe_1'}


def test_the_pool_hands_an_exception_to_its_waiter():
    pool = threaded.Pool(1)

    def broken():
        raise KeyError('gone')

    async def main():
        with pytest.raises(KeyError, match='gone'):
            await pool.run(broken)
        return await pool.run(lambda: 'still serving')

    assert asyncio.run(main()) == 'still serving'


def test_a_cancelled_waiter_leaves_the_pool_working():
    pool = threaded.Pool(1)
    release = threading.Event()

    async def main():
        slow = asyncio.ensure_future(pool.run(release.wait, 5))
        await asyncio.sleep(0.01)
        slow.cancel()
        release.set()  # its result reaches a future that is done already
        return await pool.run(lambda: 'next')

    assert asyncio.run(main()) == 'next'


def test_the_pools_threads_end_with_it():
    def pool_threads():
        return [t for t in threading.enumerate() if t.name.startswith('ending_')]

    pool = threaded.Pool(3, name='ending')

    async def main(pool):
        await asyncio.wait_for(pool.run(lambda: None), 5)

    asyncio.run(main(pool))
    assert len(pool_threads()) == 3
    del pool
    gc.collect()
    for thread in pool_threads():
        thread.join(5)
    assert pool_threads() == []
