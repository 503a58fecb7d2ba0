import pytest

from lbaas import config
from lbaas.api import policy
from lbaas.config import CONF


@pytest.fixture
def hermetic_policy(tmp_path):
    """Fresh configuration and policy: no policy.yaml or policy.d from
    /etc/lbaas or ~; both reset again afterwards."""
    config.load([], [])
    CONF.set_override('policy_file', str(tmp_path / 'policy.yaml'), 'oslo_policy')
    CONF.set_override('policy_dirs', [], 'oslo_policy')
    policy.reset()
    yield CONF
    CONF.reset()
    policy.reset()
