"""The dashboard under a real Keystone: log in with a user name and password
(lbaas relays the token request, so Keystone needs no CORS), see only the
project's objects, and as a reader be offered nothing that writes.

Keystone and `lbaas serve` (auth_strategy = keystone) come from
tests/keystone/conftest.py's fixtures; skipped with the reason when Chromium,
Playwright or Keystone is missing.
"""

import requests

from tests.browser.conftest import SUBNET, Page
from tests.keystone.conftest import keystone, lbaas  # noqa: F401 (fixtures)
from tests.keystone.server import PASSWORD


def login(browser, lbaas, shots, user, project):
    tab = Page(browser, lbaas, shots)
    page = tab.page
    page.goto(lbaas + '/dashboard/#/login')
    page.get_by_label('User name').fill(user)
    page.get_by_label('Password').fill(PASSWORD)
    page.get_by_label('Project name').fill(project)
    page.get_by_role('button', name='Log in').click()
    page.wait_for_selector('#loadbalancers')
    return tab


def test_log_in_with_keystone_and_see_ones_own_project(browser, shots, keystone, lbaas):
    token = keystone.token('alice', 'project-a')
    made = requests.post(lbaas + '/v2/lbaas/loadbalancers', headers={'X-Auth-Token': token},
                         json={'loadbalancer': {'name': 'kept', 'vip_subnet_id': SUBNET}})
    assert made.status_code == 201, made.text
    try:
        alice = login(browser, lbaas, shots, 'alice', 'project-a')
        alice.page.wait_for_selector('#loadbalancers tr[data-name="kept"]')
        assert alice.page.locator('nav a[href="#/create"]').count() == 1
        alice.shoot('keystone-01-member-list')
        alice.close()

        rita = login(browser, lbaas, shots, 'rita', 'project-a')  # a reader of the same project
        rita.page.wait_for_selector('#loadbalancers tr[data-name="kept"]')
        assert rita.page.locator('#loadbalancers button.danger').count() == 0
        assert rita.page.locator('nav a[href="#/create"]').count() == 0
        rita.shoot('keystone-02-reader-list')
        rita.close()

        bob = login(browser, lbaas, shots, 'bob', 'project-b')
        bob.page.wait_for_function(
            'document.querySelector("#loadbalancers").dataset.count === "0"')
        bob.close()
    finally:
        requests.delete(lbaas + '/v2/lbaas/loadbalancers/%s?cascade=true'
                        % made.json()['loadbalancer']['id'], headers={'X-Auth-Token': token})


def test_a_wrong_password_is_said_plainly(browser, shots, keystone, lbaas):
    tab = Page(browser, lbaas, shots)
    page = tab.page
    page.goto(lbaas + '/dashboard/#/login')
    page.get_by_label('User name').fill('alice')
    page.get_by_label('Password').fill('not the password')
    page.get_by_label('Project name').fill('project-a')
    page.get_by_role('button', name='Log in').click()
    page.get_by_text('The request you have made requires authentication.').wait_for()
    tab.shoot('keystone-03-wrong-password')
    assert page.locator('#loadbalancers').count() == 0
    tab.close()
