"""The L7 golden case: every action, rule type, compare type, invert, the
redirect codes, awkward values, and the policies that must not render."""

from __future__ import annotations

from lbaas.dataplane.viewmodel import (
    L7PolicyView,
    L7RuleView,
    ListenerTLSView,
    ListenerView,
    PoolView,
)
from tests.unit.dataplane.cases import lb, members


def _pool(name: str) -> PoolView:
    return PoolView(
        id=f"pool-{name}", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members(name, 1)
    )


def _policies(api: PoolView, static: PoolView) -> list[L7PolicyView]:
    rule = L7RuleView
    return [
        L7PolicyView(
            "to-api",
            "REDIRECT_TO_POOL",
            1,
            redirect_pool=api,
            rules=[rule("host-is-api", "HOST_NAME", "EQUAL_TO", "api.example.test")],
        ),
        L7PolicyView(
            "deny-admin",
            "REJECT",
            2,
            rules=[
                rule("path-admin", "PATH", "REGEX", r"^/admin(/.*)?$"),
                rule("debug-header", "HEADER", "CONTAINS", "yes please", key="X-Debug"),
            ],
        ),
        L7PolicyView(
            "php-gone",
            "REDIRECT_TO_URL",
            3,
            redirect_http_code=301,
            redirect_url="https://www.example.test/moved?from=php&x=1",
            rules=[rule("is-php", "FILE_TYPE", "EQUAL_TO", "php")],
        ),
        L7PolicyView(
            "old-domain",
            "REDIRECT_PREFIX",
            4,
            redirect_http_code=308,
            redirect_prefix="https://new.example.test",
            rules=[rule("host-old", "HOST_NAME", "ENDS_WITH", ".old.example.test")],
        ),
        L7PolicyView(
            "legacy-session",
            "REDIRECT_TO_URL",
            5,
            redirect_http_code=302,
            redirect_url="https://www.example.test/login",
            rules=[
                rule(
                    "cookie-legacy", "COOKIE", "STARTS_WITH", "-legacy", key="session", invert=True
                ),
                rule("images", "FILE_TYPE", "REGEX", r"\.(jpg|png)$"),
            ],
        ),
        L7PolicyView(
            "ops-clients",
            "REDIRECT_TO_POOL",
            6,
            redirect_pool=static,
            rules=[
                rule("has-cert", "SSL_CONN_HAS_CERT", "EQUAL_TO", "TRUE"),
                rule("cert-ok", "SSL_VERIFY_RESULT", "EQUAL_TO", "0"),
                rule("ou-ops", "SSL_DN_FIELD", "EQUAL_TO", "Ops Team", key="OU"),
            ],
        ),
        L7PolicyView(
            "odd-values",
            "REJECT",
            7,
            rules=[
                rule(
                    "quoted-agent",
                    "HEADER",
                    "EQUAL_TO",
                    """it's "quoted" #1 $HOME \\n""",
                    key="User-Agent",
                ),
                rule("not-spaced", "PATH", "CONTAINS", "/a b/'c'", invert=True),
            ],
        ),
        L7PolicyView(
            "plain-redirect",
            "REDIRECT_TO_URL",
            8,
            redirect_url="https://www.example.test/",
            rules=[rule("path-old", "PATH", "EQUAL_TO", "/old")],
        ),
        # Not rendered: its pool is disabled, so the builder passed no pool...
        L7PolicyView(
            "to-disabled-pool",
            "REDIRECT_TO_POOL",
            9,
            redirect_pool=None,
            rules=[rule("never-1", "PATH", "STARTS_WITH", "/disabled")],
        ),
        # ...and a policy without rules never matches.
        L7PolicyView("no-rules", "REJECT", 10, rules=[]),
    ]


def l7_policies():
    api, static = _pool("api"), _pool("static")
    tls = ListenerTLSView(
        default_cert="default.pem", client_auth="OPTIONAL", client_ca="client-ca.pem"
    )
    listener = ListenerView(
        id="listener-l7",
        protocol="TERMINATED_HTTPS",
        port=443,
        default_pool=_pool("default"),
        tls=tls,
        l7policies=_policies(api, static),
    )
    http_listener = ListenerView(
        id="listener-l7-http",
        protocol="HTTP",
        port=80,
        l7policies=[
            L7PolicyView(
                "http-to-api",
                "REDIRECT_TO_POOL",
                1,
                redirect_pool=api,
                rules=[
                    L7RuleView("http-host", "HOST_NAME", "REGEX", r"^api\.example\.test(:[0-9]+)?$")
                ],
            )
        ],
    )
    return lb("l7", listener, http_listener)
