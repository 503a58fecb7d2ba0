"""`lbaas health-manager`: heartbeats in, health, statuses and failovers out.

Amphorae send a UDP heartbeat every `[health_manager] heartbeat_interval`
to every health manager (`wire.decode_heartbeat` describes the datagram).
Modules: `receiver` (socket, checks, drop counters), `report` (the message
typed), `mapping` (Octavia's statuses, pure), `shapes` and `store` (what a
flush reads and writes), `stale` and `breaker` (silent amphorae), `service`
(the process). Several health managers may run at once: every value they
write is absolute, so two writing the same thing agree.
"""

from lbaas.controller.health.service import HealthManager, run

__all__ = ['HealthManager', 'run']
