"""The dashboard in Chromium against `lbaas serve` on the noop drivers.

One walk through a user's day (log in, wizard, ACTIVE in the list, topology,
batch members, L7 policy edit, statistics, cascade delete), then what a
reader may do, what one project sees of another, the wizard's messages
against the API's, the first page's load time with 200 load balancers,
the admin pages and a narrow screen. Screenshots go to `shots`.
"""

import concurrent.futures
import json
import time

import requests

from tests.browser.conftest import SUBNET, Api, new_project

LABELLED = """() => [...document.querySelectorAll('main input, main select, main textarea')]
  .filter((el) => el.type !== 'hidden' && !el.labels?.length && !el.getAttribute('aria-label'))
  .map((el) => el.outerHTML)"""


def test_served_with_its_headers_and_no_cors(dashboard):
    page = requests.get(dashboard + '/dashboard/', headers={'Origin': 'http://elsewhere.example'})
    assert page.status_code == 200 and page.headers['Content-Type'].startswith('text/html')
    assert page.headers['X-Frame-Options'] == 'DENY'
    assert "frame-ancestors 'none'" in page.headers['Content-Security-Policy']
    assert 'Access-Control-Allow-Origin' not in page.headers
    script = requests.get(dashboard + '/dashboard/js/app.js')
    assert script.headers['Content-Type'].startswith('text/javascript')
    assert script.headers['Cache-Control'] == 'no-cache'
    again = requests.get(
        dashboard + '/dashboard/js/app.js', headers={'If-None-Match': script.headers['ETag']}
    )
    assert again.status_code == 304
    assert requests.get(dashboard + '/dashboard/js/../../app.py').status_code == 404
    assert requests.get(dashboard + '/dashboard', allow_redirects=False).status_code == 301
    conf = requests.get(dashboard + '/dashboard/config.json').json()
    assert conf['auth_strategy'] == 'noauth'
    # The API's own answers are left alone: no framing headers, no CORS.
    api = requests.get(
        dashboard + '/v2/lbaas/loadbalancers', headers={'Origin': 'http://elsewhere.example'}
    )
    assert 'X-Frame-Options' not in api.headers
    assert 'Access-Control-Allow-Origin' not in api.headers


def _wizard(tab, name, members='', port='80', monitor=False):
    page = tab.page
    tab.go('#/create', '#wizard')
    page.get_by_label('Name', exact=True).fill(name)
    page.get_by_role('button', name='Next').click()
    page.get_by_label('Port', exact=True).fill(port)
    page.get_by_role('button', name='Next').click()
    if page.locator('#wizard-error').text_content():
        return
    page.locator('#members').fill(members)
    page.get_by_role('button', name='Next').click()
    if monitor:
        page.get_by_label('Add a health monitor').check()
    page.get_by_role('button', name='Next').click()


def test_a_day_with_the_dashboard(open_page, dashboard):
    project = new_project()
    api = Api(dashboard, project)
    tab = open_page(project)
    page = tab.page
    tab.shoot('01-login-list-empty')
    _wizard(tab, 'web', members='198.18.0.50 8080', monitor=True)
    tab.shoot('02-wizard-review')
    page.get_by_role('button', name='Create').click()
    row = page.locator('#loadbalancers tr[data-name="web"]')
    row.locator('.prov .st-ACTIVE').wait_for(timeout=20000)
    tab.shoot('03-list-active')
    lb = api.call('GET', 'loadbalancers?name=web').json()['loadbalancers'][0]

    row.get_by_role('link', name='web').click()
    page.wait_for_selector('#topology [data-kind=member]')
    assert page.locator('#topology [data-kind=listener]').count() == 1
    tab.shoot('04-topology')

    page.locator('#pool-links a').first.click()
    page.wait_for_selector('#batch')
    page.locator('#batch').fill('198.18.0.51 8080\n198.18.0.52:8080 3\n198.18.0.53 8080 backup')
    page.get_by_role('button', name='Add members').click()
    page.wait_for_function('document.querySelectorAll("#members tbody tr").length === 4')
    tab.shoot('05-pool-members')
    pool_id = api.call('GET', 'pools?loadbalancer_id=' + lb['id']).json()['pools'][0]['id']
    members = api.call('GET', 'pools/%s/members' % pool_id).json()['members']
    assert {(m['address'], m['weight'], m['backup']) for m in members} >= {
        ('198.18.0.52', 3, False),
        ('198.18.0.53', 1, True),
    }

    # An L7 policy, made and edited in the UI.
    listener = api.call('GET', 'listeners?loadbalancer_id=' + lb['id']).json()['listeners'][0]
    tab.go('#/listeners/' + listener['id'], '#add-l7policy')
    page.locator('details:has(#add-l7policy) summary').click()
    page.locator('#add-l7policy').get_by_label('Name').fill('block')
    page.locator('#add-l7policy').get_by_label('Action').select_option('REJECT')
    page.get_by_role('button', name='Add policy').click()
    page.locator('#l7policies').get_by_role('link', name='block').click()
    form = page.locator('#l7policy-form')
    form.get_by_label('Name').fill('to-pool')
    form.get_by_label('Action').select_option('REDIRECT_TO_POOL')
    form.get_by_label('Redirect pool').select_option(pool_id)
    renders = page.evaluate('document.querySelector("#main").dataset.renders')
    form.get_by_role('button', name='Save').click()
    page.wait_for_function(  # saved, settled and drawn again
        'document.querySelector("#main").dataset.renders !== %r' % renders
    )
    page.locator('#add-rule').get_by_label('Type').select_option('PATH')
    page.locator('#add-rule').get_by_label('Compare').select_option('STARTS_WITH')
    page.locator('#add-rule').get_by_label('Value').fill('/api')
    page.get_by_role('button', name='Add rule').click()
    page.wait_for_selector('#rule-1')
    tab.shoot('06-l7-policy')
    policy = api.call('GET', 'l7policies?listener_id=' + listener['id']).json()['l7policies'][0]
    assert (policy['name'], policy['action'], policy['redirect_pool_id']) == (
        'to-pool',
        'REDIRECT_TO_POOL',
        pool_id,
    )
    assert len(policy['rules']) == 1

    tab.go('#/loadbalancers/%s/stats' % lb['id'], '#stats-lb-bytes')
    page.wait_for_function('Number(document.querySelector("#stats-lb-bytes").dataset.samples) >= 2')
    assert page.locator('#stats figure svg').count() == 6  # LB and one listener, 3 charts each
    assert page.locator('#stats-lb-connections output').first.text_content() == '0'
    tab.shoot('07-stats')

    tab.go('#/loadbalancers', '#loadbalancers tr[data-name="web"]')
    page.get_by_role('button', name='Delete web').click()
    listing = page.locator('#confirm-list')
    listing.wait_for()
    text = listing.text_content()
    for expected in (
        'Listener',
        'Pool pool',
        'Member 198.18.0.53:8080',
        'L7 policy to-pool',
        'Health monitor',
    ):
        assert expected in text, text
    tab.shoot('08-delete-confirmation')
    page.locator('#confirm-ok').click()
    api.wait_lb(lb['id'], 'DELETED')
    page.locator('#loadbalancers tr[data-name="web"]').wait_for(state='detached')


def test_a_reader_cannot_change_anything(open_page, dashboard):
    project = new_project()
    member = Api(dashboard, project)
    made = member.call(
        'POST',
        'loadbalancers',
        {
            'loadbalancer': {
                'name': 'ro',
                'vip_subnet_id': SUBNET,
                'listeners': [
                    {
                        'protocol': 'HTTP',
                        'protocol_port': 80,
                        'default_pool': {
                            'name': 'p',
                            'protocol': 'HTTP',
                            'lb_algorithm': 'ROUND_ROBIN',
                            'members': [{'address': '198.18.0.60', 'protocol_port': 80}],
                        },
                    }
                ],
            }
        },
    )
    assert made.status_code == 201, made.text
    lb = made.json()['loadbalancer']
    member.wait_lb(lb['id'])
    tab = open_page(project, role='reader')
    page = tab.page
    page.wait_for_selector('#loadbalancers tr[data-name="ro"]')
    assert page.locator('#loadbalancers button.danger').count() == 0
    assert page.locator('nav a[href="#/create"]').count() == 0
    tab.shoot('09-reader-list')
    tab.go('#/loadbalancers/' + lb['id'], '#topology')
    assert page.locator('#delete-lb, #add-listener, #add-pool').count() == 0
    pool_id = member.call('GET', 'pools?loadbalancer_id=' + lb['id']).json()['pools'][0]['id']
    tab.go('#/pools/' + pool_id, '#members')
    assert page.locator('#batch-members').count() == 0
    assert page.locator('#pool-form [name=name]').is_disabled()
    assert page.locator('main button:enabled').count() == 0
    tab.shoot('10-reader-pool')
    # Forced anyway (the wizard by its address): the API's 403, plainly.
    _wizard(tab, 'sneaky')
    page.get_by_role('button', name='Create').click()
    error = page.locator('#wizard-error')
    error.filter(has_text='403').wait_for()
    assert error.text_content().startswith('Forbidden (403): ')
    assert member.call('GET', 'loadbalancers?name=sneaky').json()['loadbalancers'] == []
    member.call('DELETE', 'loadbalancers/%s?cascade=true' % lb['id'])


def test_a_project_never_sees_another(open_page, dashboard):
    mine, theirs = new_project(), new_project()
    other = Api(dashboard, theirs)
    made = other.call(
        'POST', 'loadbalancers', {'loadbalancer': {'name': 'theirs', 'vip_subnet_id': SUBNET}}
    ).json()['loadbalancer']
    other.wait_lb(made['id'])
    tab = open_page(mine)
    page = tab.page
    page.wait_for_function('document.querySelector("#loadbalancers").dataset.count === "0"')
    assert page.locator('tr[data-name="theirs"]').count() == 0
    tab.go('#/loadbalancers/' + made['id'])
    assert page.locator('main .error').text_content().startswith('Forbidden (403)')
    other.call('DELETE', 'loadbalancers/' + made['id'])


def test_the_wizard_says_what_the_api_says(open_page, dashboard):
    project = new_project()
    api = Api(dashboard, project)
    tab = open_page(project)
    page = tab.page
    cases = [
        {'port': '70000'},
        {'port': '0'},
        {'members': '300.1.1.1 80'},
        {'members': '198.18.0.70 80 0 backup\n198.18.0.70 80'},
    ]
    for number, case in enumerate(cases):
        _wizard(tab, 'bad-%d' % number, **case)
        error = page.locator('#wizard-error')
        if not error.text_content():
            page.get_by_role('button', name='Create').click()
            error.filter(has_text='.').wait_for()
        shown = error.text_content()
        body = json.loads(page.locator('#wizard-body').text_content())
        answer = api.call('POST', 'loadbalancers', body)
        assert answer.status_code in (400, 409), answer.text
        assert shown == answer.json()['faultstring'], (case, shown)
        print('\nwizard and API agree: %s' % shown)
    tab.shoot('11-wizard-error')
    assert api.call('GET', 'loadbalancers').json()['loadbalancers'] == []


def test_first_page_with_200_load_balancers(open_page, dashboard, browser, shots):
    project = new_project()
    api = Api(dashboard, project)

    def make(number):
        resp = api.call(
            'POST',
            'loadbalancers',
            {
                'loadbalancer': {
                    'name': 'lb-%03d' % number,
                    'vip_subnet_id': SUBNET,
                    'tags': ['t%d' % (number % 5)],
                }
            },
        )
        assert resp.status_code == 201, resp.text

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(make, range(200)))
    tab = open_page(project)
    page = tab.page
    page.wait_for_function('document.querySelector("#loadbalancers").dataset.count === "200"')
    loads = []
    for _ in range(3):  # the best of three: the machine's two cores are shared
        started = time.monotonic()
        page.reload()
        page.wait_for_function(
            'document.querySelector("#loadbalancers")?.dataset.count === "200"', polling=10
        )
        wall = time.monotonic() - started
        loads.append((page.evaluate('window.dashboardRendered'), wall * 1000))
    print(
        '\nfirst page with 200 LBs: rendered %s ms after navigation (wall %s ms)'
        % ('/'.join('%.0f' % r for r, _ in loads), '/'.join('%.0f' % w for _, w in loads))
    )
    # A figure to report (the goal is under 1 s), not a timed pass/fail check:
    # the machine is shared. It must at least have been measured.
    assert all(r > 0 for r, _ in loads), loads
    tab.shoot('12-list-200')
    page.locator('#lb-search').fill('lb-19')
    assert page.locator('#loadbalancers').get_attribute('data-count') == '10'
    page.locator('#lb-search').fill('')
    page.locator('#lb-tag').select_option('t1')
    assert page.locator('#loadbalancers').get_attribute('data-count') == '40'
    page.locator('th[data-key=name] button').click()  # now descending
    assert page.locator('#loadbalancers tbody tr').first.get_attribute('data-name') == 'lb-196'
    assert page.evaluate(LABELLED) == []
    for lb in api.call('GET', 'loadbalancers').json()['loadbalancers']:
        api.call('DELETE', 'loadbalancers/' + lb['id'])


def test_admin_pages_and_a_narrow_screen(open_page, dashboard):
    tab = open_page('admin', role='admin')
    page = tab.page
    for name in (
        'amphorae',
        'quotas',
        'flavors',
        'flavorprofiles',
        'availabilityzones',
        'availabilityzoneprofiles',
        'providers',
    ):
        tab.go('#/admin/' + name, '#' + name)
        assert (
            not page.locator('main .error').text_content()
            if page.locator('main > .error').count()
            else True
        )
        assert page.evaluate(LABELLED) == []
        tab.shoot('13-admin-' + name)
    tab.go('#/admin/flavorprofiles', '#add-flavorprofiles')
    adding = page.locator('#add-flavorprofiles')
    adding.get_by_label('Name').fill('fp-ui')
    adding.get_by_label('Provider').fill('amphora')
    adding.get_by_label('Flavor data (JSON text)').fill('{"loadbalancer_topology": "SINGLE"}')
    adding.get_by_role('button', name='Create').click()
    page.wait_for_selector('#flavorprofiles td:text("fp-ui")')

    narrow = open_page(new_project(), width=375)
    narrow.go('#/create', '#wizard')
    assert narrow.page.evaluate(LABELLED) == []
    assert narrow.page.evaluate('document.documentElement.scrollWidth <= innerWidth + 1')
    narrow.shoot('14-narrow-wizard')
    narrow.go('#/loadbalancers', '#loadbalancers')
    assert narrow.page.evaluate('document.documentElement.scrollWidth <= innerWidth + 1')
    narrow.page.focus('.skip')
    narrow.page.keyboard.press('Enter')
    assert narrow.page.evaluate('document.activeElement.id') == 'main'
    narrow.shoot('15-narrow-list')
