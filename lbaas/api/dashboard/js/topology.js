// One load balancer as a picture: LB -> listeners -> L7 policies -> pools ->
// members, coloured by operating status, redrawn every 2 s.
import { canWrite, get, isAdmin, lb, list } from './api.js';
import { badge, clear, h, link, nameOf, s, table } from './dom.js';
import { deleteCascade } from './lbs.js';
import { addListener, addPool } from './objects.js';

const W = 170; const H = 40; const GAP_X = 60; const GAP_Y = 14;
const KINDS = ['loadbalancer', 'listener', 'l7policy', 'pool', 'member'];
const HREF = { listener: 'listeners', l7policy: 'l7policies', pool: 'pools', member: 'pools' };
const KNOWN = ['ONLINE', 'DEGRADED', 'DRAINING', 'ERROR', 'OFFLINE', 'NO_MONITOR'];

export async function graph(lbId) {
  const item = (await get(lb(`loadbalancers/${lbId}`))).loadbalancer;
  const [listeners, pools] = await Promise.all([
    list('listeners', { loadbalancer_id: lbId }), list('pools', { loadbalancer_id: lbId })]);
  const policies = (await Promise.all(listeners.map((l) => list('l7policies', { listener_id: l.id })))).flat();
  const members = (await Promise.all(pools.map((p) => get(lb(`pools/${p.id}/members`))
    .then((r) => r.members.map((m) => ({ ...m, pool_id: p.id })))))).flat();
  return { lb: item, listeners, pools, policies, members };
}

function label(kind, o) {
  if (kind === 'listener') return `${nameOf(o)} ${o.protocol}:${o.protocol_port}`;
  if (kind === 'l7policy') return `${nameOf(o)} ${o.action}`;
  if (kind === 'pool') return `${nameOf(o)} ${o.lb_algorithm}`;
  if (kind === 'member') return `${o.address}:${o.protocol_port}`;
  return `${nameOf(o)} ${o.vip_address}`;
}

export function picture(g) {
  const columns = [[g.lb], g.listeners, g.policies, g.pools, g.members];
  const at = new Map();
  columns.forEach((objs, c) => objs.forEach((o, r) => at.set(o.id, { x: 10 + c * (W + GAP_X), y: 10 + r * (H + GAP_Y) })));
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const edges = [];
  const edge = (a, b) => { if (at.has(a) && at.has(b)) edges.push([at.get(a), at.get(b)]); };
  g.listeners.forEach((l) => { edge(g.lb.id, l.id); edge(l.id, l.default_pool_id); });
  g.policies.forEach((p) => { edge(p.listener_id, p.id); edge(p.id, p.redirect_pool_id); });
  g.members.forEach((m) => edge(m.pool_id, m.id));
  g.pools.filter((p) => !p.listeners?.length).forEach((p) => edge(g.lb.id, p.id));
  const width = 20 + columns.length * W + (columns.length - 1) * GAP_X;
  const height = 20 + rows * (H + GAP_Y);
  const node = (kind, o) => {
    const { x, y } = at.get(o.id);
    const status = o.operating_status;
    const href = kind === 'loadbalancer' ? `#/loadbalancers/${o.id}/stats`
      : `#/${HREF[kind]}/${kind === 'member' ? o.pool_id : o.id}`;
    return s('a', { href, class: o.provisioning_status?.startsWith('PENDING') ? 'pending' : null,
      dataset: { kind, id: o.id, status: status || '' },
      'aria-label': `${kind} ${label(kind, o)}: ${status}, ${o.provisioning_status}` },
    s('title', {}, `${kind} ${label(kind, o)}\n${status} / ${o.provisioning_status}`),
    s('rect', { x, y, width: W, height: H, rx: 6, class: `n-${KNOWN.includes(status) ? status : 'other'}` }),
    s('text', { x: x + 8, y: y + 16 }, label(kind, o).slice(0, 26)),
    s('text', { x: x + 8, y: y + 32 }, `${status || ''} · ${(o.provisioning_status || '').replace('PENDING_', 'P_')}`));
  };
  return s('svg', { class: 'topology', viewBox: `0 0 ${width} ${height}`, role: 'group',
    'aria-label': 'Topology of the load balancer', id: 'topology' },
  edges.map(([a, b]) => s('path', { class: 'edge',
    d: `M${a.x + W},${a.y + H / 2} C${a.x + W + GAP_X / 2},${a.y + H / 2} ${b.x - GAP_X / 2},${b.y + H / 2} ${b.x},${b.y + H / 2}` })),
  KINDS.map((kind, c) => columns[c].map((o) => node(kind, o))));
}

async function amphorae(lbId) {
  const found = await list('amphorae', { loadbalancer_id: lbId }, 'v2/octavia/');
  return table([
    { label: 'Role', cell: (a) => a.role || '—' },
    { label: 'Status', cell: (a) => badge(a.status) },
    { label: 'Host', cell: (a) => a.compute_id || '—' },
    { label: 'Management IP', cell: (a) => a.lb_network_ip || '—' },
    { label: 'VRRP IP', cell: (a) => a.vrrp_ip || '—' }], found, { id: 'amphorae' });
}

export async function render(main, ctx, lbId) {
  const holder = h('div', { id: 'topology-holder' });
  const statusLine = h('p', { 'aria-live': 'polite', class: 'hint' });
  const amph = h('div');
  const error = h('p', { class: 'error', role: 'alert' });
  let g = await graph(lbId);
  let drawn = '';
  const draw = async () => {
    const key = JSON.stringify(g);
    if (key !== drawn) clear(holder, picture(g));  // unchanged: keep focus where it is
    drawn = key;
    statusLine.replaceChildren('Load balancer ', badge(g.lb.provisioning_status), ' ', badge(g.lb.operating_status),
      ` · ${g.listeners.length} listeners, ${g.pools.length} pools, ${g.members.length} members · updated ${new Date().toLocaleTimeString()}`);
    if (isAdmin()) clear(amph, h('h3', {}, 'Amphorae'), await amphorae(lbId).catch((e) => e.message));
  };
  clear(main, h('h2', {}, `Load balancer ${nameOf(g.lb)}`),
    h('p', {}, `VIP ${g.lb.vip_address} · provider ${g.lb.provider} · `, link(`#/loadbalancers/${lbId}/stats`, 'Statistics')),
    statusLine, error,
    h('p', { class: 'legend hint' }, 'Colours: ', KNOWN.map((k) => h('span', {}, badge(k)))), holder,
    h('h3', {}, 'Listeners'), h('ul', { id: 'listener-links' }),
    h('h3', {}, 'Pools'), h('ul', { id: 'pool-links' }),
    canWrite() ? [addListener(lbId, g, ctx), addPool(lbId, g, ctx),
      h('p', {}, h('button', { type: 'button', class: 'danger', id: 'delete-lb', onclick: async () => {
        try { if (await deleteCascade(g.lb)) location.hash = '#/loadbalancers'; } catch (err) { error.textContent = err.message; }
      } }, 'Delete load balancer (cascade)'))] : null,
    amph);
  const links = () => {
    clear(main.querySelector('#listener-links'), g.listeners.map((l) => h('li', {}, link(`#/listeners/${l.id}`, `${nameOf(l)} (${l.protocol}:${l.protocol_port})`), ' ', badge(l.operating_status))));
    clear(main.querySelector('#pool-links'), g.pools.map((p) => h('li', {}, link(`#/pools/${p.id}`, `${nameOf(p)} (${p.protocol}, ${p.lb_algorithm})`), ' ', badge(p.operating_status))));
  };
  await draw();
  links();
  ctx.every(async () => {
    try {
      g = await graph(lbId);
      await draw();
      links();
      error.textContent = '';
    } catch (err) { error.textContent = err.message; }
  }, 2000);
}
