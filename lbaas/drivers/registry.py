"""Pick drivers by the names in `[controller_worker]`."""
import dataclasses

from lbaas import config
from lbaas.drivers import noop


@dataclasses.dataclass
class Drivers:
    compute: object
    network: object
    amphora: object


def load():
    settings = config.CONF.controller_worker
    compute = {'noop': noop.NoopCompute}
    network = {'noop': noop.NoopNetwork}
    amphora = {'noop': noop.NoopAmphora}
    try:
        return Drivers(compute=compute[settings.compute_driver](),
                       network=network[settings.network_driver](),
                       amphora=amphora[settings.amphora_driver]())
    except KeyError as exc:
        raise SystemExit('driver %s is not available in this build' % exc)
