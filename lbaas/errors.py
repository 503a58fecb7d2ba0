"""The domain's errors, in Octavia's vocabulary: what went wrong and its status.

Raised by the service layer and the request schemas; `lbaas/api/errors.py`
maps each onto an HTTP answer with Octavia's fault body. The texts follow
Octavia's wording: clients match on the status code and sometimes on the text.
"""


class ApiError(Exception):
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def faultcode(self) -> str:
        return 'Client' if self.status < 500 else 'Server'  # as WSME decides it


class InvalidInput(ApiError):
    """400: a field failed validation."""


class ValidationFailure(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__('Validation failure: %s' % message)


class NotFound(ApiError):
    status = 404

    def __init__(self, resource: str, obj_id: str) -> None:
        super().__init__('%s %s not found.' % (resource, obj_id))


class Forbidden(ApiError):
    status = 403

    def __init__(
        self, message: str = 'Policy does not allow this request to be performed.'
    ) -> None:
        super().__init__(message)


class QuotaExceeded(ApiError):
    status = 403

    def __init__(self, resource: str) -> None:
        super().__init__('Quota has been met for resources: %s' % resource)


class Conflict(ApiError):
    status = 409


class PendingState(Conflict):
    def __init__(self, lb_id: str, state: str) -> None:
        super().__init__('Invalid state %s of loadbalancer resource %s' % (state, lb_id))


class Immutable(Conflict):
    def __init__(self, resource: str, obj_id: str) -> None:
        super().__init__('%s %s is immutable and cannot be updated.' % (resource, obj_id))


class NotImplementedByProvider(ApiError):
    status = 501

    def __init__(self, provider: str, what: str) -> None:
        super().__init__("Provider '%s' does not support a requested option: %s" % (provider, what))


class BodyTooLarge(ApiError):
    status = 413

    def __init__(self) -> None:
        super().__init__('Request is too large.')


class CertificateRetrieval(ApiError):
    """400: a TLS reference that cannot be read, or that holds no usable
    certificate (Octavia's CertificateRetrievalException)."""

    def __init__(self, refs: object) -> None:
        super().__init__('Could not retrieve certificate: %s' % (refs,))


class UnreadablePKCS12(ApiError):
    def __init__(self, error: str) -> None:
        super().__init__(
            'The PKCS12 bundle is unreadable. Please check the PKCS12 bundle '
            'validity. In addition, make sure it does not require a pass phrase. '
            'Error: %s' % error
        )
