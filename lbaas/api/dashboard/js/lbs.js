// The load balancers: search, sort, tag and status filters, delete with cascade.
import { canWrite, del, get, lb, list } from './api.js';
import { badge, clear, confirmDelete, h, link, nameOf, short, tags, toast } from './dom.js';

const COLUMNS = [
  ['name', 'Name'], ['vip_address', 'VIP'], ['provisioning_status', 'Provisioning'],
  ['operating_status', 'Operating'], ['provider', 'Provider'], ['tags', 'Tags'],
];

// Everything a cascade delete removes, as lines for the confirmation.
export async function cascadeItems(lbId) {
  const [listeners, pools] = await Promise.all([
    list('listeners', { loadbalancer_id: lbId }), list('pools', { loadbalancer_id: lbId })]);
  const items = [];
  for (const l of listeners) {
    items.push(`Listener ${nameOf(l)} (${l.protocol}:${l.protocol_port})`);
    const policies = await list('l7policies', { listener_id: l.id });
    policies.forEach((p) => items.push(`L7 policy ${nameOf(p)} (${p.action}, ${p.rules.length} rules)`));
  }
  for (const p of pools) {
    items.push(`Pool ${nameOf(p)} (${p.protocol}, ${p.lb_algorithm})`);
    if (p.healthmonitor_id) items.push(`Health monitor of pool ${nameOf(p)}`);
    const members = (await get(lb(`pools/${p.id}/members`))).members;
    members.forEach((m) => items.push(`Member ${m.address}:${m.protocol_port}`));
  }
  return items;
}

export async function deleteCascade(item) {
  const items = await cascadeItems(item.id);
  const ok = await confirmDelete(`Delete load balancer ${nameOf(item)}?`,
    [`Load balancer ${nameOf(item)} (${item.vip_address})`, ...items]);
  if (!ok) return false;
  await del(lb(`loadbalancers/${item.id}?cascade=true`));
  toast(`Deleting ${nameOf(item)}`);
  return true;
}

export async function render(main, ctx) {
  const state = { search: '', tag: '', status: '', sort: 'name', dir: 1, items: [] };
  const error = h('p', { class: 'error', role: 'alert' });
  const body = h('tbody');
  const count = h('p', { class: 'hint', 'aria-live': 'polite', id: 'lb-count' });
  const tagSelect = h('select', { id: 'lb-tag', onchange: (e) => { state.tag = e.target.value; draw(); } });
  const headers = COLUMNS.map(([key, label]) => h('th', { scope: 'col', dataset: { key },
    class: ['provider', 'tags'].includes(key) ? 'hide-narrow' : null },
  h('button', { type: 'button', onclick: () => {
    state.dir = state.sort === key ? -state.dir : 1;
    state.sort = key;
    draw();
  } }, label)));
  const tableEl = h('table', { id: 'loadbalancers' }, h('thead', {}, h('tr', {}, headers,
    h('th', { scope: 'col' }, 'Actions'))), body);

  function visible() {
    const q = state.search.toLowerCase();
    return state.items.filter((i) => (!q || [i.name, i.id, i.vip_address, i.description, ...(i.tags || [])]
      .some((v) => (v || '').toLowerCase().includes(q)))
      && (!state.tag || (i.tags || []).includes(state.tag))
      && (!state.status || [i.provisioning_status, i.operating_status].includes(state.status)))
      .sort((a, b) => state.dir * String(a[state.sort] ?? '').localeCompare(String(b[state.sort] ?? '')));
  }

  function draw() {
    const rows = visible();
    headers.forEach((th) => th.setAttribute('aria-sort', th.dataset.key === state.sort
      ? (state.dir > 0 ? 'ascending' : 'descending') : 'none'));
    clear(body, rows.map((i) => h('tr', { dataset: { id: i.id, name: i.name || '' } },
      h('td', {}, link(`#/loadbalancers/${i.id}`, nameOf(i)), ' ',
        i.project_id !== undefined ? h('span', { class: 'hint' }, short(i.id)) : null),
      h('td', {}, i.vip_address),
      h('td', { class: 'prov' }, badge(i.provisioning_status)),
      h('td', { class: 'oper' }, badge(i.operating_status)),
      h('td', { class: 'hide-narrow' }, i.provider),
      h('td', { class: 'hide-narrow' }, tags(i.tags)),
      h('td', {}, link(`#/loadbalancers/${i.id}/stats`, 'Statistics'), ' ',
        canWrite() ? h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${nameOf(i)}`,
          onclick: async () => {
            try { if (await deleteCascade(i)) await refresh(); } catch (err) { error.textContent = err.message; }
          } }, 'Delete') : null))));
    tableEl.dataset.count = rows.length;
    count.textContent = `${rows.length} of ${state.items.length} load balancers`;
  }

  async function refresh() {
    try {
      state.items = await list('loadbalancers');
      error.textContent = '';
    } catch (err) { error.textContent = err.message; return; }
    const known = [...new Set(state.items.flatMap((i) => i.tags || []))].sort();
    if (tagSelect.options.length !== known.length + 1) {
      clear(tagSelect, h('option', { value: '' }, 'any tag'), known.map((t) => h('option', { value: t }, t)));
      tagSelect.value = state.tag;
    }
    draw();
  }

  const statuses = ['ACTIVE', 'PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE', 'ERROR',
    'ONLINE', 'OFFLINE', 'DEGRADED', 'NO_MONITOR'];
  clear(main, h('h2', {}, 'Load balancers'),
    h('div', { class: 'toolbar', role: 'search' },
      h('div', { class: 'field' }, h('label', { for: 'lb-search' }, 'Search'),
        h('input', { id: 'lb-search', type: 'search', oninput: (e) => { state.search = e.target.value; draw(); } })),
      h('div', { class: 'field' }, h('label', { for: 'lb-tag' }, 'Tag'), tagSelect),
      h('div', { class: 'field' }, h('label', { for: 'lb-status' }, 'Status'),
        h('select', { id: 'lb-status', onchange: (e) => { state.status = e.target.value; draw(); } },
          h('option', { value: '' }, 'any status'), statuses.map((st) => h('option', { value: st }, st)))),
      canWrite() ? h('a', { class: 'button', href: '#/create' }, 'Create load balancer') : null),
    error, count, h('div', { class: 'scroll' }, tableEl));
  await refresh();
  ctx.every(refresh, 3000);
}
