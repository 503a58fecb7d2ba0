"""The words that must be exactly right: quoting, ACLs, status regexes, TLS."""

from __future__ import annotations

import re

import pytest

from lbaas.dataplane.directives import (
    acl_criterion,
    fetch_arg,
    hostport,
    quote,
    status_regex,
    tls_words,
)
from lbaas.dataplane.viewmodel import L7RuleView


def haproxy_word(text: str) -> str:
    """How HAProxy 2.6 reads one unquoted/single-quoted word (no double quotes
    are ever emitted for user values): quotes toggle, backslash escapes outside."""
    out, in_quote, i = [], False, 0
    while i < len(text):
        char = text[i]
        if char == "'":
            in_quote = not in_quote
        elif char == "\\" and not in_quote:
            i += 1
            out.append(text[i])
        else:
            assert in_quote or (not char.isspace() and char not in "#\"$"), text
            out.append(char)
        i += 1
    assert not in_quote, text
    return "".join(out)


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "/path/to",
        "a b",
        "it's",
        "'",
        "''",
        '"double"',
        "#comment",
        "$HOME",
        "${HOME}",
        "back\\slash",
        "\\n",
        "tab\there",
        "",
        "-flag",
        "(?i)^/a[0-9]+$",
    ],
)
def test_quote_round_trips(value: str) -> None:
    assert haproxy_word(quote(value)) == value


def test_quote_leaves_safe_words_bare() -> None:
    assert quote("api.example.test") == "api.example.test"
    assert quote("ECDHE-RSA-AES128-GCM-SHA256:!aNULL") == "ECDHE-RSA-AES128-GCM-SHA256:!aNULL"


def test_fetch_arg_escapes_the_argument_layer() -> None:
    assert fetch_arg("X-Plain") == "X-Plain"
    assert fetch_arg("X-K'q") == "X-K\\'q"
    assert fetch_arg("a,b)") == "a\\,b\\)"


def test_hostport_brackets_ipv6_only() -> None:
    assert hostport("198.18.0.1", 80) == "198.18.0.1:80"
    assert hostport("fd00:1b::1", 443) == "[fd00:1b::1]:443"


def _matching_codes(expected_codes: str) -> set[int]:
    pattern = re.compile(status_regex(expected_codes))
    return {code for code in range(100, 600) if pattern.search(str(code))}


@pytest.mark.parametrize(
    ("expected_codes", "codes"),
    [
        ("200", {200}),
        ("200, 202,204", {200, 202, 204}),
        ("200-204", set(range(200, 205))),
        ("150-349", set(range(150, 350))),
        ("199-201", {199, 200, 201}),
        ("100-599", set(range(100, 600))),
        ("305-305", {305}),
        ("208-312", set(range(208, 313))),
    ],
)
def test_status_regex_matches_exactly_the_codes(expected_codes: str, codes: set[int]) -> None:
    assert _matching_codes(expected_codes) == codes


def test_status_regex_is_compact() -> None:
    assert status_regex("200-299") == "^(2[0-9][0-9])$"
    assert status_regex("200-204") == "^(20[0-4])$"


@pytest.mark.parametrize("bad", ["abc", "20", "2000", "300-200", "200-", "200;201"])
def test_status_regex_rejects_malformed_codes(bad: str) -> None:
    with pytest.raises(ValueError):
        status_regex(bad)


def test_tls_words_disable_unlisted_versions() -> None:
    assert tls_words(("TLSv1.2", "TLSv1.3"), None, ()) == ["no-sslv3", "no-tlsv10", "no-tlsv11"]
    assert tls_words((), None, ()) == []  # no list: HAProxy's defaults


def test_tls_words_split_tls13_suites_from_ciphers() -> None:
    words = tls_words((), "TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256", ("h2",))
    assert words == [
        "ciphers",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ciphersuites",
        "TLS_AES_128_GCM_SHA256",
        "alpn",
        "h2",
    ]


@pytest.mark.parametrize(
    ("rule", "criterion"),
    [
        (("HOST_NAME", "EQUAL_TO", "a.test", None), "req.hdr(host) -i -m str a.test"),
        (("PATH", "STARTS_WITH", "/api", None), "path -m beg /api"),
        (("PATH", "REGEX", "^/a b$", None), "path -m reg '^/a b$'"),
        (("FILE_TYPE", "EQUAL_TO", "jpg", None), "path_end jpg"),
        (("FILE_TYPE", "REGEX", "jpe?g", None), "path_end -m reg jpe?g"),
        (("HEADER", "CONTAINS", "x y", "X-H"), "req.hdr(X-H) -m sub 'x y'"),
        (("COOKIE", "ENDS_WITH", "-z", "c"), "req.cook(c) -m end -- -z"),
        (("SSL_CONN_HAS_CERT", "EQUAL_TO", "true", None), "ssl_c_used"),
        (("SSL_VERIFY_RESULT", "EQUAL_TO", "10", None), "ssl_c_verify eq 10"),
        (("SSL_DN_FIELD", "EQUAL_TO", "Ops", "OU"), "ssl_c_s_dn(OU) -m str Ops"),
    ],
)
def test_acl_criterion_follows_octavia_mapping(rule: tuple, criterion: str) -> None:
    rule_type, compare_type, value, key = rule
    assert acl_criterion(L7RuleView("r", rule_type, compare_type, value, key=key)) == criterion


def test_acl_criterion_quotes_awkward_header_names() -> None:
    rule = L7RuleView("r", "HEADER", "EQUAL_TO", "v", key="X-K'q#")
    assert acl_criterion(rule) == "'req.hdr(X-K\\'\\''q#)' -m str v"
    assert haproxy_word(acl_criterion(rule).split(" ")[0]) == "req.hdr(X-K\\'q#)"
