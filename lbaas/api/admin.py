"""The operator side of the API: quotas, providers, flavors, availability
zones, their profiles, and amphorae. The handlers live in `admin_*`."""
from lbaas.api import admin_amphorae, admin_catalog, admin_profiles, admin_providers, admin_quotas


def lbaas_routes() -> list[tuple[str, object]]:
    """Mounted under /v2, /v2.0, /v2/lbaas and /v2.0/lbaas."""
    return (admin_quotas.routes() + admin_providers.routes() + admin_catalog.routes()
            + admin_profiles.routes())


def octavia_routes() -> list[tuple[str, object]]:
    """Mounted under /v2/octavia and /v2.0/octavia."""
    return admin_amphorae.routes()
