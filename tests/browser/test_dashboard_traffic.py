"""The dashboard's topology with real traffic: a stopped member turns red.

The real service (netns amphorae, HAProxy, health manager) from
tests/scenario/conftest.py (its fixtures are imported by this tier's
conftest); Chromium from tests/browser (skipped, with the reason printed,
when it or playwright is missing).
"""

import sys

import pytest

from tests.browser import conftest as browser_conftest
from tests.scenario import traffic
from tests.skips import skip_if


@pytest.fixture(scope='module')
def chromium(tmp_path_factory):
    reason = browser_conftest.why_not_runnable()
    skip_if(reason, 'the dashboard scenario')
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        browser = play.chromium.launch(
            executable_path=browser_conftest.CHROMIUM,
            headless=True,
            args=['--no-sandbox', '--disable-gpu'],
        )
        yield browser
        browser.close()


def test_a_stopped_member_turns_red_in_the_topology(
    service, api, members, client, chromium, tmp_path
):
    m1, m2 = members[0], members[1]
    monitor = {'type': 'HTTP', 'delay': 1, 'timeout': 1, 'max_retries': 1, 'max_retries_down': 1}
    pool = traffic.pool(
        'dash-pool', [traffic.member(m1), traffic.member(m2)], healthmonitor=monitor
    )
    lb = api.create_lb('dash', [traffic.listener(8081, pool)])
    tab = browser_conftest.Page(chromium, service.endpoint, tmp_path)
    try:
        tab.login('scenario-' + service.tag, 'member')
        tab.go('#/loadbalancers/' + lb['id'], '#topology')
        page = tab.page
        member = '#topology [data-kind=member][data-status=%s]'
        page.wait_for_selector(member % 'ONLINE', timeout=60000)
        assert page.locator(member % 'ONLINE').count() == 2
        tab.shoot('scenario-topology-online')
        m2.stop_backend(traffic.MEMBER_PORT)
        try:
            red = page.locator(member % 'ERROR')
            red.wait_for(timeout=30000)
            assert red.get_attribute('aria-label').startswith('member %s:' % m2.addresses[0])
            fill = red.locator('rect').evaluate('el => getComputedStyle(el).fill')
            assert fill == 'rgb(185, 28, 28)', fill  # --bad
            tab.shoot('scenario-topology-member-down')
            print('\ndashboard scenario screenshots in %s' % tmp_path, file=sys.stderr)
        finally:
            m2.start_backend(traffic.MEMBER_PORT, name='m2')
    finally:
        tab.close()
        api.delete_lb(lb['id'])
