// The create wizard: one POST builds the whole graph (LB, listener, pool,
// members, health monitor). The API validates; its message is shown as is.
import { get, lb, post } from './api.js';
import { clear, h } from './dom.js';
import { V, field, values } from './forms.js';
import { parseMembers } from './members.js';

const STEPS = ['Load balancer', 'Listener', 'Pool and members', 'Health monitor', 'Review'];

function specs(subnets) {
  return {
    lb: [
      { name: 'name', label: 'Name' },
      { name: 'description', label: 'Description' },
      { name: 'vip_subnet_id', label: 'VIP subnet', type: 'select', required: true, default: subnets[0]?.id,
        options: subnets.map((s) => [s.id, `${s.name || s.id} (${s.cidr})`]) },
      { name: 'vip_address', label: 'VIP address', help: 'empty: the next free address' },
      { name: 'provider', label: 'Provider' },
      { name: 'flavor_id', label: 'Flavor ID' },
      { name: 'availability_zone', label: 'Availability zone' },
      { name: 'tags', label: 'Tags', type: 'list', help: 'comma separated' },
      { name: 'admin_state_up', label: 'Enabled', type: 'bool', default: true }],
    listener: [
      { name: 'name', label: 'Listener name' },
      { name: 'protocol', label: 'Protocol', type: 'select', options: V.protocols, default: 'HTTP' },
      { name: 'protocol_port', label: 'Port', type: 'number', default: 80 },
      { name: 'connection_limit', label: 'Connection limit', type: 'number', help: '-1: unlimited' },
      { name: 'default_tls_container_ref', label: 'TLS certificate (TERMINATED_HTTPS)' }],
    pool: [
      { name: 'name', label: 'Pool name', default: 'pool', help: 'the API needs one here' },
      { name: 'protocol', label: 'Pool protocol', type: 'select', options: V.poolProtocols, default: 'HTTP' },
      { name: 'lb_algorithm', label: 'Algorithm', type: 'select', options: V.algorithms, default: 'ROUND_ROBIN' },
      { name: 'session_persistence_type', label: 'Session persistence', type: 'select', options: V.persistence },
      { name: 'cookie_name', label: 'Cookie name (APP_COOKIE)' }],
    monitor: [
      { name: 'type', label: 'Monitor type', type: 'select', options: V.monitors, default: 'HTTP' },
      { name: 'delay', label: 'Delay (s)', type: 'number', default: 5 },
      { name: 'timeout', label: 'Timeout (s)', type: 'number', default: 5 },
      { name: 'max_retries', label: 'Max retries', type: 'number', default: 3 },
      { name: 'url_path', label: 'URL path (HTTP)' },
      { name: 'expected_codes', label: 'Expected codes (HTTP)' }],
  };
}

// The request body from the wizard's fields (defaults are the API's: only
// what was filled in is sent).
export function buildBody(root, sp) {
  const body = values(root.querySelector('#step-0'), sp.lb);
  if (!root.querySelector('#with-listener').checked) return { loadbalancer: body };
  const listener = values(root.querySelector('#step-1'), sp.listener);
  if (root.querySelector('#with-pool').checked) {
    const { session_persistence_type: type, cookie_name: cookie, ...pool } =
      values(root.querySelector('#step-2'), sp.pool);
    if (type) pool.session_persistence = { type, ...(cookie ? { cookie_name: cookie } : {}) };
    const text = root.querySelector('#members').value;
    const members = parseMembers(text);
    if (members.length) pool.members = members;
    if (root.querySelector('#with-monitor').checked) pool.healthmonitor = values(root.querySelector('#step-3'), sp.monitor);
    listener.default_pool = pool;
  }
  body.listeners = [listener];
  return { loadbalancer: body };
}

// Light checks before the API is asked, in the API's own words.
function precheck(body) {
  const l = body.loadbalancer.listeners?.[0];
  const field = `Invalid input for field/attribute listeners[0].protocol_port. Value: '${l?.protocol_port}'.`;
  if (l?.protocol_port > 65535) return `${field} Value should be lower or equal to 65535`;
  if (l?.protocol_port < 1) return `${field} Value should be greater or equal to 1`;
  return null;
}

export async function render(main) {
  const subnets = (await get('v2.0/subnets')).subnets || [];
  const sp = specs(subnets);
  let step = 0;
  const error = h('p', { class: 'error', role: 'alert', id: 'wizard-error' });
  const preview = h('pre', { id: 'wizard-body', class: 'scroll' });
  const steplist = h('ol', { class: 'steps' }, STEPS.map((s, i) => h('li', { dataset: { step: i } }, `${i + 1}. ${s}`)));
  const check = (id, label, checked) => h('div', { class: 'field check' },
    h('input', { type: 'checkbox', id, checked }), h('label', { for: id }, label));
  const panes = [
    h('fieldset', { id: 'step-0' }, h('legend', {}, STEPS[0]), h('div', { class: 'grid' }, sp.lb.map((s) => field(s)))),
    h('fieldset', { id: 'step-1' }, h('legend', {}, STEPS[1]), check('with-listener', 'Add a listener', true),
      h('div', { class: 'grid' }, sp.listener.map((s) => field(s)))),
    h('fieldset', { id: 'step-2' }, h('legend', {}, STEPS[2]), check('with-pool', 'Add a default pool', true),
      h('div', { class: 'grid' }, sp.pool.map((s) => field(s))),
      h('div', { class: 'field' }, h('label', { for: 'members' }, 'Members'),
        h('textarea', { id: 'members', 'aria-describedby': 'members-help' }),
        h('span', { class: 'hint', id: 'members-help' },
          'One per line: ADDRESS PORT [WEIGHT] [backup], e.g. 198.18.0.50 8080 or [fd00:1b::5]:80 2 backup'))),
    h('fieldset', { id: 'step-3' }, h('legend', {}, STEPS[3]), check('with-monitor', 'Add a health monitor', false),
      h('div', { class: 'grid' }, sp.monitor.map((s) => field(s)))),
    h('fieldset', { id: 'step-4' }, h('legend', {}, STEPS[4]),
      h('p', {}, 'This request will be sent to the API:'), preview),
  ];
  const back = h('button', { type: 'button', class: 'secondary', id: 'wizard-back', onclick: () => show(step - 1) }, 'Back');
  const next = h('button', { type: 'button', id: 'wizard-next', onclick: () => show(step + 1) }, 'Next');
  const create = h('button', { type: 'submit', id: 'wizard-create' }, 'Create');
  const formEl = h('form', { id: 'wizard', novalidate: true }, steplist, panes,
    h('div', { class: 'toolbar' }, back, next, create), error);

  function show(n) {
    error.textContent = '';
    try {
      const body = buildBody(formEl, sp);
      preview.textContent = JSON.stringify(body, null, 2);
      const problem = n > step ? precheck(body) : null;
      if (problem) { error.textContent = problem; return; }
    } catch (err) {
      if (n > step) { error.textContent = err.message; return; }
    }
    step = Math.max(0, Math.min(STEPS.length - 1, n));
    panes.forEach((p, i) => { p.hidden = i !== step; });
    steplist.querySelectorAll('li').forEach((li, i) => li.setAttribute('aria-current', i === step ? 'step' : 'false'));
    back.disabled = step === 0;
    next.hidden = step === STEPS.length - 1;
    panes[step].querySelector('input, select, textarea')?.focus();
  }

  formEl.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    create.disabled = true;
    try {
      const body = buildBody(formEl, sp);
      preview.textContent = JSON.stringify(body, null, 2);
      const created = (await post(lb('loadbalancers'), body)).loadbalancer;
      location.hash = '#/loadbalancers';
      return created;
    } catch (err) {
      error.textContent = err.message;
      error.dataset.status = err.status || '';
    } finally {
      create.disabled = false;
    }
  });
  clear(main, h('h2', {}, 'Create a load balancer'), formEl);
  show(0);
}
