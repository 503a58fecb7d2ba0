// Statistics of a load balancer and its listeners, sampled every 2 s and
// drawn over the last five minutes: rates from the cumulative counters.
import { get, lb, list } from './api.js';
import { clear, h, link, nameOf } from './dom.js';
import { lineChart } from './chart.js';

const KEEP = 150; // samples: 5 minutes at 2 s

function track() {
  const samples = [];
  return {
    samples,
    add(stats) {
      samples.push({ t: Date.now(), ...stats });
      if (samples.length > KEEP) samples.shift();
    },
    // Per-second rate of a cumulative counter between samples.
    rate(key) {
      return samples.slice(1).map((cur, i) => {
        const prev = samples[i];
        const dt = Math.max(0.001, (cur.t - prev.t) / 1000);
        return Math.max(0, (cur[key] - prev[key]) / dt);
      });
    },
    level: (key) => samples.slice(1).map((x) => x[key]),
    times: () => samples.slice(1).map((x) => x.t),
  };
}

function charts(name, t, prefix) {
  const last = t.samples.at(-1) || {};
  return h('section', { 'aria-label': name, id: prefix },
    h('h3', {}, name),
    h('p', { class: 'hint' }, `Totals: ${last.bytes_in ?? 0} bytes in, ${last.bytes_out ?? 0} bytes out, ` +
      `${last.total_connections ?? 0} connections, ${last.request_errors ?? 0} request errors`),
    h('div', { class: 'charts' },
      lineChart('Bytes per second', [{ label: 'in', values: t.rate('bytes_in') }, { label: 'out', values: t.rate('bytes_out') }], t.times(), `${prefix}-bytes`),
      lineChart('Connections', [{ label: 'active', values: t.level('active_connections') },
        { label: 'new/s', values: t.rate('total_connections') }], t.times(), `${prefix}-connections`),
      lineChart('Request errors per second', [{ label: 'errors', values: t.rate('request_errors') }], t.times(), `${prefix}-errors`)));
}

export async function render(main, ctx, lbId) {
  const item = (await get(lb(`loadbalancers/${lbId}`))).loadbalancer;
  const listeners = await list('listeners', { loadbalancer_id: lbId });
  const tracks = { lb: track(), ...Object.fromEntries(listeners.map((l) => [l.id, track()])) };
  const holder = h('div', { id: 'stats' });
  const error = h('p', { class: 'error', role: 'alert' });
  async function sample() {
    try {
      tracks.lb.add((await get(lb(`loadbalancers/${lbId}/stats`))).stats);
      await Promise.all(listeners.map(async (l) => tracks[l.id].add((await get(lb(`listeners/${l.id}/stats`))).stats)));
      error.textContent = '';
    } catch (err) { error.textContent = err.message; }
    clear(holder, charts(`Load balancer ${nameOf(item)}`, tracks.lb, 'stats-lb'),
      listeners.map((l) => charts(`Listener ${nameOf(l)} (${l.protocol}:${l.protocol_port})`, tracks[l.id], `stats-${l.id}`)));
  }
  clear(main, h('p', {}, link(`#/loadbalancers/${lbId}`, '← topology')),
    h('h2', {}, `Statistics of ${nameOf(item)}`),
    h('p', { class: 'hint' }, 'Sampled every 2 seconds while this page is open; the last 5 minutes are kept.'),
    error, holder);
  await sample();
  ctx.every(sample, 2000);
}
