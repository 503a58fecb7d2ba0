// Administration: amphorae, quotas, flavors and their profiles, availability
// zones and their profiles, providers. Offered to admins only; the API decides.
import { del, get, list, post, put } from './api.js';
import { badge, clear, confirmDelete, h, short, table, toast } from './dom.js';
import { form } from './forms.js';

export const PAGES = [['amphorae', 'Amphorae'], ['quotas', 'Quotas'], ['flavors', 'Flavors'],
  ['flavorprofiles', 'Flavor profiles'], ['availabilityzones', 'Availability zones'],
  ['availabilityzoneprofiles', 'AZ profiles'], ['providers', 'Providers']];

const QUOTA = ['load_balancer', 'listener', 'pool', 'health_monitor', 'member', 'l7policy', 'l7rule']
  .map((name) => ({ name, label: name.replace('_', ' '), type: 'number', help: '-1: unlimited' }));

const CATALOG = {
  flavors: { key: 'flavor', specs: [{ name: 'name', label: 'Name', required: true }, { name: 'description', label: 'Description' },
    { name: 'flavor_profile_id', label: 'Flavor profile ID', required: true }, { name: 'enabled', label: 'Enabled', type: 'bool', default: true }] },
  flavorprofiles: { key: 'flavorprofile', specs: [{ name: 'name', label: 'Name', required: true },
    { name: 'provider_name', label: 'Provider', required: true }, { name: 'flavor_data', label: 'Flavor data (JSON text)', type: 'textarea' }] },
  availabilityzones: { key: 'availability_zone', specs: [{ name: 'name', label: 'Name', required: true }, { name: 'description', label: 'Description' },
    { name: 'availability_zone_profile_id', label: 'AZ profile ID', required: true }, { name: 'enabled', label: 'Enabled', type: 'bool', default: true }] },
  availabilityzoneprofiles: { key: 'availability_zone_profile', specs: [{ name: 'name', label: 'Name', required: true },
    { name: 'provider_name', label: 'Provider', required: true }, { name: 'availability_zone_data', label: 'AZ data (JSON text)', type: 'textarea' }] },
};

async function amphorae(main, ctx) {
  const rows = await list('amphorae', {}, 'v2/octavia/');
  const act = (a, what) => h('button', { type: 'button', class: 'secondary', 'aria-label': `${what} amphora ${short(a.id)}`,
    onclick: async () => {
      try {
        await put(`v2/octavia/amphorae/${a.id}/${what}`);
        toast(`${what} of ${short(a.id)} requested`);
      } catch (err) { toast(err.message); }
    } }, what === 'failover' ? 'Failover' : 'Configure');
  clear(main, h('h2', {}, 'Amphorae'), table([
    { label: 'ID', cell: (a) => short(a.id) }, { label: 'Load balancer', cell: (a) => h('a', { href: `#/loadbalancers/${a.loadbalancer_id}` }, short(a.loadbalancer_id)) },
    { label: 'Role', cell: (a) => a.role || '—' }, { label: 'Status', cell: (a) => badge(a.status) },
    { label: 'Host', cell: (a) => a.compute_id || '—' }, { label: 'Management IP', cell: (a) => a.lb_network_ip || '—' },
    { label: 'Actions', cell: (a) => [act(a, 'failover'), ' ', act(a, 'config')] }], rows, { id: 'amphorae' }));
}

async function quotas(main, ctx) {
  const rows = (await get('v2/lbaas/quotas')).quotas;
  const editor = h('div');
  const edit = async (project) => {
    const current = (await get(`v2/lbaas/quotas/${project}`)).quota;
    clear(editor, form({ id: 'quota-form', legend: `Quota of ${project}`, value: current, specs: QUOTA,
      onSubmit: async (data) => { await put(`v2/lbaas/quotas/${project}`, { quota: data }); toast('Quota saved'); ctx.reload(); } }));
  };
  const pick = form({ id: 'quota-pick', submit: 'Edit', specs: [{ name: 'project', label: 'Project ID', required: true }],
    onSubmit: async (data) => edit(data.project) });
  clear(main, h('h2', {}, 'Quotas'), table([{ label: 'Project', cell: (q) => h('button', { type: 'button', class: 'secondary', onclick: () => edit(q.project_id) }, q.project_id) },
    ...QUOTA.map((spec) => ({ label: spec.label, cell: (q) => q[spec.name] ?? '—' }))], rows, { id: 'quotas' }), pick, editor);
}

async function providers(main) {
  const rows = (await get('v2/lbaas/providers')).providers;
  const caps = await Promise.all(rows.map((p) => get(`v2/lbaas/providers/${p.name}/flavor_capabilities`)
    .then((r) => r.flavor_capabilities.map((c) => c.name).join(', ')).catch(() => '—')));
  clear(main, h('h2', {}, 'Providers'), table([{ label: 'Name', cell: (p) => p.name }, { label: 'Description', cell: (p) => p.description },
    { label: 'Flavor capabilities', cell: (p) => caps[rows.indexOf(p)] }], rows, { id: 'providers' }));
}

async function catalog(main, ctx, kind) {
  const { key, specs } = CATALOG[kind];
  const path = `v2/lbaas/${kind}`;
  const data = await get(path);
  const rows = data[Object.keys(data).find((k) => Array.isArray(data[k]))];
  const remove = async (row) => {
    if (!await confirmDelete(`Delete ${row.name}?`, [row.name])) return;
    try { await del(`${path}/${row.id}`); ctx.reload(); } catch (err) { toast(err.message); }
  };
  clear(main, h('h2', {}, PAGES.find(([k]) => k === kind)[1]),
    table([...specs.map((spec) => ({ label: spec.label, cell: (r) => String(r[spec.name] ?? '—') })),
      { label: 'ID', cell: (r) => short(r.id) },
      { label: '', cell: (r) => (r.id ? h('button', { type: 'button', class: 'danger', onclick: () => remove(r) }, 'Delete') : '') }], rows, { id: kind }),
    form({ id: `add-${kind}`, legend: 'Add', submit: 'Create', specs,
      onSubmit: async (body) => { await post(path, { [key]: body }); toast('Created'); ctx.reload(); } }));
}

export async function render(main, ctx, page) {
  if (page === 'amphorae') return amphorae(main, ctx);
  if (page === 'quotas') return quotas(main, ctx);
  if (page === 'providers') return providers(main);
  if (CATALOG[page]) return catalog(main, ctx, page);
  throw new Error(`No admin page ${page}`);
}
