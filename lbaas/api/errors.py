"""Octavia's error vocabulary and how each becomes an HTTP answer.

Octavia answers errors as WSME faults: {"faultcode", "faultstring",
"debuginfo"}. Clients match on the status code and sometimes on the text, so
the texts below follow Octavia's wording.
"""
import json
import logging


LOG = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    @property
    def faultcode(self):
        return 'Client' if self.status < 500 else 'Server'  # as WSME decides it


class InvalidInput(ApiError):
    """400: a field failed validation."""


class ValidationFailure(ApiError):
    def __init__(self, message):
        super().__init__('Validation failure: %s' % message)


class NotFound(ApiError):
    status = 404

    def __init__(self, resource, obj_id):
        super().__init__('%s %s not found.' % (resource, obj_id))


class Forbidden(ApiError):
    status = 403

    def __init__(self, message='Policy does not allow this request to be performed.'):
        super().__init__(message)


class QuotaExceeded(ApiError):
    status = 403

    def __init__(self, resource):
        super().__init__('Quota has been met for resources: %s' % resource)


class Conflict(ApiError):
    status = 409


class PendingState(Conflict):
    def __init__(self, lb_id, state):
        super().__init__('Invalid state %s of loadbalancer resource %s' % (state, lb_id))


class Immutable(Conflict):
    def __init__(self, resource, obj_id):
        super().__init__('%s %s is immutable and cannot be updated.' % (resource, obj_id))


class NotImplementedByProvider(ApiError):
    status = 501

    def __init__(self, provider, what):
        super().__init__("Provider '%s' does not support a requested option: %s"
                         % (provider, what))


class BodyTooLarge(ApiError):
    status = 413

    def __init__(self):
        super().__init__('Request is too large.')


def fault_body(message, faultcode='Client'):
    return json.dumps({'faultcode': faultcode, 'faultstring': message,
                       'debuginfo': None})


def _respond(resp, status, body):
    resp.status = status
    resp.content_type = 'application/json'
    resp.text = body


def handle_api_error(req, resp, exc, params):
    _respond(resp, exc.status, fault_body(exc.message, exc.faultcode))


def handle_rule_error(req, resp, exc, params):
    """A schemas.common.ValidationFailure raised by a rule: 400 with its text."""
    _respond(resp, 400, fault_body(exc.message))


def handle_http_error(req, resp, exc, params):
    """Falcon's own errors (unknown route, bad method) in Octavia's shape."""
    status = int(exc.status_code)
    if status == 406:
        # Octavia's 406 comes from webob, in the API-WG error format.
        body = json.dumps({'errors': [{
            'status': 406, 'title': 'Not Acceptable',
            'detail': exc.description or 'Only application/json is served.',
            'request_id': req.context.get('request_id')}]})
    else:
        message = exc.description or exc.title or 'Error'
        if status == 404 and not exc.description:
            message = 'The resource could not be found.'
        if status == 405:
            message = 'The method %s is not allowed on %s.' % (req.method, req.path)
        body = fault_body(message, 'Client' if status < 500 else 'Server')
    _respond(resp, status, body)
    for name, value in (exc.headers or {}).items():
        resp.set_header(name, value)


def handle_integrity_error(req, resp, exc, params):
    """Two writers raced for one unique value (a VIP address, a name)."""
    LOG.info('integrity conflict on %s %s: %s', req.method, req.path, exc.orig)
    _respond(resp, 409, fault_body('The request conflicts with the current state of '
                                   'another resource; retry it.'))


def handle_data_error(req, resp, exc, params):
    """A value the database cannot hold or compare (a NUL byte, a bad date)."""
    _respond(resp, 400, fault_body('Invalid input: a value is not valid for its field.'))


def handle_unexpected(req, resp, exc, params):
    LOG.exception('Unexpected error serving %s %s', req.method, req.path)
    _respond(resp, 500, fault_body('Internal Server Error', 'Server'))
