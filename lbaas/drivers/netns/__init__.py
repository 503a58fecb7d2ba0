"""The netns data plane's drivers (DESIGN section 5).

`NetnsCompute` runs each amphora as a network namespace with `lbaas agent`
in it; `NetnsNetwork` plugs amphorae into the local networks, which are Linux
bridges in the `lbaas-fabric` namespace (`Fabric`). Both need root.
"""

from lbaas.drivers.netns.compute import HostAmphora, NetnsCompute
from lbaas.drivers.netns.fabric import Fabric
from lbaas.drivers.netns.network import NetnsNetwork

__all__ = ['Fabric', 'HostAmphora', 'NetnsCompute', 'NetnsNetwork']
