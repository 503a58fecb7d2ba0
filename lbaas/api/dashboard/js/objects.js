// Listeners and pools (with their members and health monitor): detail and editing.
import { canWrite, del, get, lb, list, post, put, settle } from './api.js';
import { badge, clear, confirmDelete, h, link, nameOf, table, toast } from './dom.js';
import { V, form } from './forms.js';
import { kept, parseMembers } from './members.js';

const TLS = [
  { name: 'tls_versions', label: 'TLS versions', type: 'list', help: 'e.g. TLSv1.2, TLSv1.3' },
  { name: 'tls_ciphers', label: 'TLS ciphers' },
  { name: 'alpn_protocols', label: 'ALPN protocols', type: 'list', help: 'e.g. h2, http/1.1' }];

export const LISTENER = (pools) => [
  { name: 'name', label: 'Name' }, { name: 'description', label: 'Description' },
  { name: 'admin_state_up', label: 'Enabled', type: 'bool', default: true },
  { name: 'connection_limit', label: 'Connection limit', type: 'number' },
  { name: 'default_pool_id', label: 'Default pool', type: 'select', options: pools.map((p) => [p.id, nameOf(p)]) },
  { name: 'timeout_client_data', label: 'Client data timeout (ms)', type: 'number' },
  { name: 'timeout_member_connect', label: 'Member connect timeout (ms)', type: 'number' },
  { name: 'timeout_member_data', label: 'Member data timeout (ms)', type: 'number' },
  { name: 'timeout_tcp_inspect', label: 'TCP inspect timeout (ms)', type: 'number' },
  { name: 'insert_headers', label: 'Insert headers', type: 'json', help: '{"X-Forwarded-For": "true"}' },
  { name: 'allowed_cidrs', label: 'Allowed CIDRs', type: 'list' },
  { name: 'default_tls_container_ref', label: 'TLS certificate', datalist: 'certificates' },
  { name: 'sni_container_refs', label: 'SNI certificates', type: 'list', datalist: 'certificates' },
  { name: 'client_ca_tls_container_ref', label: 'Client CA', datalist: 'certificates' },
  { name: 'client_authentication', label: 'Client authentication', type: 'select', options: V.clientAuth },
  { name: 'client_crl_container_ref', label: 'Client CRL', datalist: 'certificates' },
  ...TLS, { name: 'tags', label: 'Tags', type: 'list' }];

export const POOL = [
  { name: 'name', label: 'Name' }, { name: 'description', label: 'Description' },
  { name: 'admin_state_up', label: 'Enabled', type: 'bool', default: true },
  { name: 'lb_algorithm', label: 'Algorithm', type: 'select', options: V.algorithms },
  { name: 'session_persistence', label: 'Session persistence', type: 'json',
    help: '{"type": "APP_COOKIE", "cookie_name": "s"}; types: ' + V.persistence.join(', ') },
  { name: 'tls_enabled', label: 'TLS to members', type: 'bool' },
  { name: 'tls_container_ref', label: 'Client certificate (to members)', datalist: 'certificates' },
  { name: 'ca_tls_container_ref', label: 'Members\' CA', datalist: 'certificates' },
  { name: 'crl_container_ref', label: 'Members\' CRL', datalist: 'certificates' },
  ...TLS, { name: 'tags', label: 'Tags', type: 'list' }];

export const MONITOR = [
  { name: 'name', label: 'Name' },
  { name: 'type', label: 'Type', type: 'select', options: V.monitors, optional: false },
  { name: 'delay', label: 'Delay (s)', type: 'number' }, { name: 'timeout', label: 'Timeout (s)', type: 'number' },
  { name: 'max_retries', label: 'Max retries', type: 'number' },
  { name: 'max_retries_down', label: 'Max retries down', type: 'number' },
  { name: 'http_method', label: 'HTTP method', type: 'select', options: V.httpMethods },
  { name: 'url_path', label: 'URL path' }, { name: 'expected_codes', label: 'Expected codes' },
  { name: 'http_version', label: 'HTTP version', type: 'number' }, { name: 'domain_name', label: 'Domain name' },
  { name: 'admin_state_up', label: 'Enabled', type: 'bool', default: true }];

// Certificates of the key-manager store, offered in the TLS fields.
async function certificates() {
  const refs = await Promise.all([list('secrets', {}, 'v1/').catch(() => []),
    list('containers', {}, 'v1/').catch(() => [])]);
  return h('datalist', { id: 'certificates' }, refs.flat().map((c) =>
    h('option', { value: c.secret_ref || c.container_ref }, c.name || '')));
}

// Run a write, wait for the LB to settle, then redraw the page.
export async function write(lbId, ctx, action, message) {
  await action();
  toast(message || 'Saved; applying…');
  await settle(lbId);
  ctx.reload();
}

export function addListener(lbId, g, ctx) {
  return h('details', {}, h('summary', {}, 'Add a listener'), form({ id: 'add-listener', submit: 'Add listener',
    specs: [{ name: 'protocol', label: 'Protocol', type: 'select', options: V.protocols, default: 'HTTP' },
      { name: 'protocol_port', label: 'Port', type: 'number', default: 80 }, ...LISTENER(g.pools)],
    onSubmit: (data) => write(lbId, ctx, () => post(lb('listeners'), { listener: { ...data, loadbalancer_id: lbId } })) }));
}

export function addPool(lbId, g, ctx) {
  return h('details', {}, h('summary', {}, 'Add a pool'), form({ id: 'add-pool', submit: 'Add pool',
    specs: [{ name: 'protocol', label: 'Protocol', type: 'select', options: V.poolProtocols, default: 'HTTP' },
      { name: 'listener_id', label: 'Default pool of listener', type: 'select', options: g.listeners.map((l) => [l.id, nameOf(l)]) },
      ...POOL.map((s) => (s.name === 'lb_algorithm' ? { ...s, default: 'ROUND_ROBIN' } : s))],
    onSubmit: (data) => write(lbId, ctx, () => post(lb('pools'), { pool: { ...data, ...(data.listener_id ? {} : { loadbalancer_id: lbId }) } })) }));
}

const header = (kind, obj, lbId) => [
  h('p', {}, link(`#/loadbalancers/${lbId}`, '← topology')),
  h('h2', {}, `${kind} ${nameOf(obj)}`),
  h('p', {}, badge(obj.provisioning_status), ' ', badge(obj.operating_status), ` · ${obj.id}`)];

export async function listener(main, ctx, id) {
  const item = (await get(lb(`listeners/${id}`))).listener;
  const lbId = item.loadbalancers[0].id;
  const [pools, policies, certs] = await Promise.all([list('pools', { loadbalancer_id: lbId }),
    list('l7policies', { listener_id: id }), certificates()]);
  const writable = canWrite();
  clear(main, header('Listener', item, lbId), certs,
    h('p', {}, `${item.protocol}:${item.protocol_port} · `, link(`#/loadbalancers/${lbId}/stats`, 'Statistics')),
    form({ id: 'listener-form', value: item, specs: LISTENER(pools), legend: 'Settings', readOnly: !writable,
      onSubmit: (data) => write(lbId, ctx, () => put(lb(`listeners/${id}`), { listener: data })) }),
    h('h3', {}, 'L7 policies (in order)'),
    table([{ label: 'Position', cell: (p) => p.position }, { label: 'Policy', cell: (p) => link(`#/l7policies/${p.id}`, nameOf(p)) },
      { label: 'Action', cell: (p) => p.action }, { label: 'Rules', cell: (p) => p.rules.length },
      { label: 'Status', cell: (p) => badge(p.operating_status) },
      { label: 'Order', cell: (p) => (writable ? [
        h('button', { type: 'button', class: 'secondary', 'aria-label': `Move ${nameOf(p)} up`, disabled: p.position <= 1,
          onclick: () => write(lbId, ctx, () => put(lb(`l7policies/${p.id}`), { l7policy: { position: p.position - 1 } })) }, '↑'), ' ',
        h('button', { type: 'button', class: 'secondary', 'aria-label': `Move ${nameOf(p)} down`,
          disabled: p.position >= policies.length,
          onclick: () => write(lbId, ctx, () => put(lb(`l7policies/${p.id}`), { l7policy: { position: p.position + 1 } })) }, '↓')] : '') }],
    policies.sort((a, b) => a.position - b.position), { id: 'l7policies' }),
    writable ? h('details', {}, h('summary', {}, 'Add an L7 policy'), form({ id: 'add-l7policy', submit: 'Add policy',
      specs: [{ name: 'name', label: 'Name' }, { name: 'action', label: 'Action', type: 'select', options: V.actions, optional: false },
        { name: 'position', label: 'Position', type: 'number' },
        { name: 'redirect_pool_id', label: 'Redirect pool', type: 'select', options: pools.map((p) => [p.id, nameOf(p)]) },
        { name: 'redirect_url', label: 'Redirect URL' }, { name: 'redirect_prefix', label: 'Redirect prefix' }],
      onSubmit: (data) => write(lbId, ctx, () => post(lb('l7policies'), { l7policy: { ...data, listener_id: id } })) })) : null,
    writable ? h('p', {}, h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (await confirmDelete(`Delete listener ${nameOf(item)}?`, [`Listener ${nameOf(item)}`, ...policies.map((p) => `L7 policy ${nameOf(p)}`)])) {
        await del(lb(`listeners/${id}`));
        location.hash = `#/loadbalancers/${lbId}`;
      }
    } }, 'Delete listener')) : null);
}

function memberRow(m, pool, lbId, ctx, writable) {
  const weight = h('input', { type: 'number', min: 0, max: 256, value: m.weight, 'aria-label': `Weight of ${m.address}:${m.protocol_port}`, disabled: !writable });
  const backup = h('input', { type: 'checkbox', checked: m.backup, 'aria-label': `Backup ${m.address}:${m.protocol_port}`, disabled: !writable });
  const up = h('input', { type: 'checkbox', checked: m.admin_state_up, 'aria-label': `Enabled ${m.address}:${m.protocol_port}`, disabled: !writable });
  const path = lb(`pools/${pool.id}/members/${m.id}`);
  return h('tr', { dataset: { id: m.id, address: m.address, status: m.operating_status } },
    h('td', {}, `${m.address}:${m.protocol_port}`, m.name ? ` (${m.name})` : ''),
    h('td', {}, badge(m.operating_status), ' ', badge(m.provisioning_status)),
    h('td', {}, weight), h('td', {}, backup), h('td', {}, up),
    h('td', {}, writable ? [h('button', { type: 'button', class: 'secondary', onclick: () => write(lbId, ctx, () => put(path,
      { member: { weight: Number(weight.value), backup: backup.checked, admin_state_up: up.checked } })) }, 'Save'), ' ',
    h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (await confirmDelete(`Delete member ${m.address}:${m.protocol_port}?`, [])) await write(lbId, ctx, () => del(path));
    } }, 'Delete')] : ''));
}

export async function pool(main, ctx, id) {
  const item = (await get(lb(`pools/${id}`))).pool;
  const lbId = item.loadbalancers[0].id;
  const [members, certs] = await Promise.all([get(lb(`pools/${id}/members`)).then((r) => r.members), certificates()]);
  const monitor = item.healthmonitor_id ? (await get(lb(`healthmonitors/${item.healthmonitor_id}`))).healthmonitor : null;
  const writable = canWrite();
  const batch = h('form', { id: 'batch-members' },
    h('div', { class: 'field' }, h('label', { for: 'batch' }, 'Add members (one per line)'),
      h('textarea', { id: 'batch', 'aria-describedby': 'batch-help' }),
      h('span', { class: 'hint', id: 'batch-help' }, 'ADDRESS PORT [WEIGHT] [backup], e.g. 198.18.0.51 8080 2')),
    h('button', { type: 'submit' }, 'Add members'), h('p', { class: 'error', role: 'alert' }));
  batch.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const added = parseMembers(batch.querySelector('textarea').value);
      await write(lbId, ctx, () => put(lb(`pools/${id}/members`), { members: [...members.map(kept), ...added] }),
        `Adding ${added.length} members`);
    } catch (err) { batch.querySelector('.error').textContent = err.message; }
  });
  clear(main, header('Pool', item, lbId), certs,
    h('p', {}, `${item.protocol} · ${item.lb_algorithm}`),
    form({ id: 'pool-form', value: item, specs: POOL, legend: 'Settings', readOnly: !writable,
      onSubmit: (data) => write(lbId, ctx, () => put(lb(`pools/${id}`), { pool: data })) }),
    h('h3', {}, `Members (${members.length})`),
    h('div', { class: 'scroll' }, h('table', { id: 'members' }, h('thead', {}, h('tr', {},
      ['Member', 'Status', 'Weight', 'Backup', 'Enabled', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, members.map((m) => memberRow(m, item, lbId, ctx, writable))))),
    writable ? batch : null,
    h('h3', {}, 'Health monitor'),
    monitor ? form({ id: 'monitor-form', value: monitor, specs: MONITOR.map((s) => (s.name === 'type' ? { ...s, disabled: true } : s)),
      readOnly: !writable, onSubmit: (data) => write(lbId, ctx, () => put(lb(`healthmonitors/${monitor.id}`), { healthmonitor: data })) })
      : (writable ? form({ id: 'monitor-form', submit: 'Add health monitor', initial: { type: 'HTTP', delay: 5, timeout: 5, max_retries: 3 },
        specs: MONITOR, onSubmit: (data) => write(lbId, ctx, () => post(lb('healthmonitors'), { healthmonitor: { ...data, pool_id: id } })) })
        : h('p', {}, 'None.')),
    monitor && writable ? h('button', { type: 'button', class: 'danger', onclick: () => write(lbId, ctx, () => del(lb(`healthmonitors/${monitor.id}`))) }, 'Delete health monitor') : null,
    writable ? h('p', {}, h('button', { type: 'button', class: 'danger', onclick: async () => {
      if (await confirmDelete(`Delete pool ${nameOf(item)}?`, [`Pool ${nameOf(item)}`, ...members.map((m) => `Member ${m.address}:${m.protocol_port}`),
        ...(monitor ? ['Its health monitor'] : [])])) {
        await del(lb(`pools/${id}`));
        location.hash = `#/loadbalancers/${lbId}`;
      }
    } }, 'Delete pool')) : null);
}
