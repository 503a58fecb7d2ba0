"""The words of HAProxy directives that need care, one rule per function.

Templates lay out sections; these functions build the parts that must be
exactly right: quoting of user-supplied values, ACL criteria, the status regex
of HTTP checks, TLS options and server options. Each returns plain text.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from lbaas.dataplane.viewmodel import (
    ClientAuth,
    CompareType,
    L7PolicyView,
    L7RuleType,
    L7RuleView,
    ListenerView,
    MemberView,
    MonitorType,
    PersistenceType,
    PoolView,
    Protocol,
)

if TYPE_CHECKING:
    from lbaas.dataplane.render import RuntimePaths

_CLIENT_VERIFY = {
    ClientAuth.NONE: "none",
    ClientAuth.OPTIONAL: "optional",
    ClientAuth.MANDATORY: "required",
}
_NO_VERSION_FLAG = {
    "SSLv3": "no-sslv3",
    "TLSv1": "no-tlsv10",
    "TLSv1.1": "no-tlsv11",
    "TLSv1.2": "no-tlsv12",
    "TLSv1.3": "no-tlsv13",
}
_MATCH_FLAG = {
    CompareType.REGEX: "-m reg",
    CompareType.STARTS_WITH: "-m beg",
    CompareType.ENDS_WITH: "-m end",
    CompareType.CONTAINS: "-m sub",
    CompareType.EQUAL_TO: "-m str",
}
_FETCH = {
    L7RuleType.HOST_NAME: "req.hdr(host)",
    L7RuleType.PATH: "path",
    L7RuleType.FILE_TYPE: "path_end",
    L7RuleType.HEADER: "req.hdr({})",
    L7RuleType.COOKIE: "req.cook({})",
    L7RuleType.SSL_DN_FIELD: "ssl_c_s_dn({})",
}

# Words HAProxy reads literally without quotes. Anything else is single-quoted,
# since single quotes disable every escape, comment and variable expansion.
_BARE_WORD = re.compile(r"[A-Za-z0-9_.:/@%+=,!~*^|()\[\]?-]+")


def quote(word: str) -> str:
    """One HAProxy config word holding exactly `word`."""
    if _BARE_WORD.fullmatch(word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"


def fetch_arg(key: str) -> str:
    # Sample-fetch arguments have their own quoting layer inside the word.
    return re.sub(r"([\\'\",()\s])", r"\\\1", key)


# Octavia's [haproxy_amphora] user_log_format: who (project, load balancer),
# the listener (%f), the client, the request, the pool:listener backend (%b)
# and the member (%s) that served it, timings and termination state.
USER_LOG_FORMAT = (
    "{project_id} {lb_id} %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify] "
    "%{+Q}[ssl_c_s_dn] %b %s %Tt %tsc"
)
# HAProxy refuses these in a tcp-mode frontend; Octavia logs "-" instead.
_HTTP_ONLY_FIELDS = {"%{+Q}r", "%r", "%{+Q}ST", "%ST"}


def log_format(project_id: str, lb_id: str, mode: str) -> str:
    """The `log-format` argument for a frontend in `mode`, as one config word."""
    ids = {"{project_id}": project_id or "-", "{lb_id}": lb_id}
    words = []
    for word in USER_LOG_FORMAT.split(" "):
        if word in ids:
            word = _log_literal(ids[word])
        elif mode != "http" and word in _HTTP_ONLY_FIELDS:
            word = "-"
        words.append(word)
    return "\\ ".join(words)


def _log_literal(value: str) -> str:
    # Ids are written into the format: "%" would start a field, and quotes,
    # backslashes, "#" and spaces would end or change the config word.
    return re.sub(r"([\\'\"#\s])", r"\\\1", value.replace("%", "%%"))


def hostport(address: str, port: int) -> str:
    if ipaddress.ip_address(address).version == 6:
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def status_regex(expected_codes: str) -> str:
    """`http-check expect rstatus` regex for "200", "200,202" or "200-204"."""
    alternatives: list[str] = []
    for item in expected_codes.replace(" ", "").split(","):
        if not re.fullmatch(r"\d{3}(-\d{3})?", item):
            raise ValueError(f"bad expected_codes {expected_codes!r}")
        low, _, high = item.partition("-")
        alternatives += _range_alternatives(int(low), int(high or low))
    return "^(" + "|".join(alternatives) + ")$"


def _range_alternatives(low: int, high: int) -> list[str]:
    """Compact regex alternatives for a range of 3-digit codes: 150-349 gives
    1[5-9][0-9], 2[0-9][0-9], 3[0-4][0-9] instead of 200 literal codes."""
    if low > high:
        raise ValueError(f"empty status range {low}-{high}")
    runs: list[tuple[str, int, int, int]] = []  # (prefix, first digit, last digit, wildcard digits)
    code = low
    while code <= high:
        size = next(s for s in (100, 10, 1) if code % s == 0 and code + s - 1 <= high)
        prefix = "" if size == 100 else str(code // size // 10)
        digit, wild = code // size % 10, len(str(size)) - 1
        last = runs[-1] if runs else None
        if last and last[0] == prefix and last[3] == wild and last[2] == digit - 1:
            runs[-1] = (prefix, last[1], digit, wild)
        else:
            runs.append((prefix, digit, digit, wild))
        code += size
    return [
        prefix + (str(a) if a == b else f"[{a}-{b}]") + "[0-9]" * wild
        for prefix, a, b, wild in runs
    ]


def tls_words(versions: tuple[str, ...], ciphers: str | None, alpn: tuple[str, ...]) -> list[str]:
    """Protocol, cipher and ALPN options shared by `bind` and `server` lines."""
    words = [
        flag for version, flag in _NO_VERSION_FLAG.items() if versions and version not in versions
    ]
    if ciphers:
        # OpenSSL configures TLS 1.3 suites separately from older ciphers.
        names = [c for c in ciphers.split(":") if c]
        legacy = [c for c in names if not c.startswith("TLS_")]
        tls13 = [c for c in names if c.startswith("TLS_")]
        if legacy:
            words += ["ciphers", quote(":".join(legacy))]
        if tls13:
            words += ["ciphersuites", quote(":".join(tls13))]
    if alpn:
        words += ["alpn", quote(",".join(alpn))]
    return words


def bind_options(listener: ListenerView, paths: RuntimePaths) -> str:
    tls = listener.tls
    if tls is None:  # TERMINATED_HTTPS, or PROMETHEUS given certificates
        return ""
    words = ["ssl", "crt", paths.cert(tls.default_cert)]
    for name in tls.sni_certs:
        words += ["crt", paths.cert(name)]
    if tls.client_ca:
        words += ["ca-file", paths.cert(tls.client_ca), "verify", _CLIENT_VERIFY[tls.client_auth]]
        if tls.client_crl:
            words += ["crl-file", paths.cert(tls.client_crl)]
    return " ".join(["", *words, *tls_words(tls.versions, tls.ciphers, tls.alpn)])


def hsts_value(listener: ListenerView) -> str | None:
    tls = listener.tls
    if tls is None or tls.hsts_max_age is None:
        return None
    value = f"max-age={int(tls.hsts_max_age)};"
    if tls.hsts_include_subdomains:
        value += " includeSubDomains;"
    if tls.hsts_preload:
        value += " preload;"
    return f'"{value}"'


def acl_criterion(rule: L7RuleView) -> str:
    """What follows `acl <name>` for one L7 rule (Octavia's mapping)."""
    if rule.type == L7RuleType.SSL_CONN_HAS_CERT:
        return "ssl_c_used"
    if rule.type == L7RuleType.SSL_VERIFY_RESULT:
        return f"ssl_c_verify eq {int(rule.value)}"
    words = [quote(_FETCH[rule.type].format(fetch_arg(rule.key or "")))]
    if rule.type == L7RuleType.HOST_NAME:
        words.append("-i")
    if not (rule.type == L7RuleType.FILE_TYPE and rule.compare_type == CompareType.EQUAL_TO):
        words.append(_MATCH_FLAG[rule.compare_type])
    if rule.value.startswith("-"):
        words.append("--")  # a pattern starting with "-" would read as a flag
    words.append(quote(rule.value))
    return " ".join(words)


def condition(policy: L7PolicyView) -> str:
    """The rules of a policy, ANDed, as an `if` condition."""
    return " ".join(("!" if rule.invert else "") + rule.id for rule in policy.rules)


def _check_words(pool: PoolView, member: MemberView) -> list[str]:
    monitor = pool.health_monitor
    if monitor is None or not monitor.enabled:
        return []
    words = ["check"]
    if monitor.type in (MonitorType.HTTPS, MonitorType.TLS_HELLO):
        # A TLS pool's checks already use its verify settings; otherwise the
        # check only proves the member speaks TLS, so there is nothing to verify.
        words += ["check-ssl"] if pool.tls_enabled else ["check-ssl", "verify", "none"]
        if monitor.type == MonitorType.HTTPS and monitor.domain_name:
            words += ["check-sni", quote(monitor.domain_name)]
    # HAProxy rejects "inter 0"; Octavia allows delay 0, meaning "as often as possible".
    words += [
        "inter",
        f"{max(monitor.delay, 1)}s",
        "fall",
        str(monitor.max_retries_down),
        "rise",
        str(monitor.max_retries),
    ]
    if member.monitor_address:
        words += ["addr", member.monitor_address]
    if member.monitor_port:
        words += ["port", str(member.monitor_port)]
    return words


def _server_tls_words(pool: PoolView, paths: RuntimePaths) -> list[str]:
    tls = pool.tls
    if tls is None:
        return []
    words = ["ssl"]
    if tls.client_cert:
        words += ["crt", paths.cert(tls.client_cert)]
    if tls.ca_cert:
        words += ["ca-file", paths.cert(tls.ca_cert), "verify", "required"]
        if tls.crl:
            words += ["crl-file", paths.cert(tls.crl)]
    else:
        words += ["verify", "none"]
    # Pass on the client's SNI when the frontend terminated TLS (empty otherwise).
    words += ["sni", "ssl_fc_sni"]
    return words + tls_words(tls.versions, tls.ciphers, tls.alpn)


def server_options(pool: PoolView, member: MemberView, mode: str, paths: RuntimePaths) -> str:
    words = _check_words(pool, member)
    persistence = pool.session_persistence
    if persistence and persistence.type == PersistenceType.HTTP_COOKIE and mode == "http":
        words += ["cookie", member.id]
    if pool.protocol == Protocol.PROXY:
        words.append("send-proxy")
    elif pool.protocol == Protocol.PROXYV2:
        words.append("send-proxy-v2")
    if member.backup:
        words.append("backup")
    if not member.enabled:
        words.append("disabled")
    return " ".join(["", *words, *_server_tls_words(pool, paths)])
