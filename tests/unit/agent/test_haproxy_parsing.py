"""Parsing what HAProxy's sockets answer (texts captured from HAProxy 2.6)."""

from lbaas.agent.haproxy import parse_show_proc, parse_show_stat

SHOW_PROC = """#<PID>          <type>          <reloads>       <uptime>        <version>
7437            master          7 [failed: 1]   0d00h00m30s     2.6.12-1+deb12u4
# workers
7717            worker          1               0d00h00m09s     2.6.12-1+deb12u4
7731            worker          0               0d00h00m01s     2.6.12-1+deb12u4
# programs

"""

SHOW_STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,check_status,\n"
    "vip,FRONTEND,,,1,2,1000,42,OPEN,,\n"
    "pool,be1,0,0,0,1,,42,UP,L4OK,\n"
    "\n"
)


def test_show_proc():
    assert parse_show_proc(SHOW_PROC) == (7, [7717, 7731])


def test_show_proc_while_reexecuting():
    assert parse_show_proc("") == (None, [])


def test_show_stat():
    rows = parse_show_stat(SHOW_STAT)
    assert rows == [
        {
            "pxname": "vip",
            "svname": "FRONTEND",
            "qcur": None,
            "qmax": None,
            "scur": 1,
            "smax": 2,
            "slim": 1000,
            "stot": 42,
            "status": "OPEN",
            "check_status": None,
        },
        {
            "pxname": "pool",
            "svname": "be1",
            "qcur": 0,
            "qmax": 0,
            "scur": 0,
            "smax": 1,
            "slim": None,
            "stot": 42,
            "status": "UP",
            "check_status": "L4OK",
        },
    ]


def test_show_stat_error_text():
    assert parse_show_stat("Unknown command\n") == []


def test_server_state_leaves_out_servers_the_configuration_disabled():
    # A re-enabled member would otherwise come back STOPPED, for good.
    from lbaas.agent.haproxy import without_config_maintenance

    state = (
        "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state\n"
        "3 b 1 disabled 198.18.0.101 0 5 1 1 0 1 0 0 8 0 0 0 - 8080 - 0 0 - - 0\n"
        "3 b 2 forced 198.18.0.102 0 1 1 1 0 1 0 0 8 0 0 0 - 8080 - 0 0 - - 0\n"
        "3 b 3 up 198.18.0.103 2 0 1 1 0 1 0 2 0 0 0 0 - 8080 - 0 0 - - 0\n"
    )
    kept = without_config_maintenance(state)
    assert "disabled" not in kept
    # Forced maintenance only ever mirrors `disabled` (runtime member changes).
    assert " forced " not in kept
    assert kept.startswith("1\n# be_id") and " up " in kept
