"""Quota request body (reference 1.7 "Quota")."""
from typing import Annotated, Any

from pydantic import model_validator

from lbaas.schemas import common as c
from lbaas.schemas.common import RequestModel

# PUT null on any quota means "use the [quotas] default_*_quota setting", so
# there is nothing to substitute here: the service stores the null.
UPDATE_NULL_DEFAULTS: dict[str, Any] = {}

# Deprecated spellings still accepted on input (and echoed by responses).
DEPRECATED_QUOTA_NAMES = {'load_balancer': 'loadbalancer', 'health_monitor': 'healthmonitor'}

QuotaLimit = Annotated[int, *c.int_bounds(c.MIN_QUOTA, c.MAX_QUOTA)]  # -1 means unlimited


class QuotaUpdate(RequestModel):
    """PUT /v2/lbaas/quotas/{project_id}."""
    loadbalancer: QuotaLimit | None = None
    listener: QuotaLimit | None = None
    member: QuotaLimit | None = None
    pool: QuotaLimit | None = None
    healthmonitor: QuotaLimit | None = None
    l7policy: QuotaLimit | None = None
    l7rule: QuotaLimit | None = None

    @model_validator(mode='before')
    @classmethod
    def _accept_deprecated_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and DEPRECATED_QUOTA_NAMES.keys() & data.keys():
            data = dict(data)
            for old, new in DEPRECATED_QUOTA_NAMES.items():
                if old in data:
                    value = data.pop(old)
                    data.setdefault(new, value)  # the current spelling wins
        return data
