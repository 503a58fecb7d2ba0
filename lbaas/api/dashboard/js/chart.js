// A hand-written SVG line chart: series of numbers over the same sample times.
import { h, s } from './dom.js';

const W = 320; const H = 140; const PAD = 34;

function fmt(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n * 10) / 10);
}

// series: [{label, values: [number]}]; times: [ms] of the samples.
export function lineChart(title, series, times, id) {
  const all = series.flatMap((x) => x.values);
  const max = Math.max(1, ...all);
  const n = Math.max(2, times.length);
  const x = (i) => PAD + (i * (W - PAD - 6)) / (n - 1);
  const y = (v) => H - 18 - (v / max) * (H - 30);
  const span = times.length > 1 ? Math.round((times.at(-1) - times[0]) / 1000) : 0;
  const last = series.map((x) => `${x.label} ${fmt(x.values.at(-1) ?? 0)}`).join(', ');
  return h('figure', { class: 'chart', id, dataset: { samples: times.length } },
    h('figcaption', {}, h('strong', {}, title)),
    s('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${last}` },
      s('line', { class: 'axis', x1: PAD, y1: H - 18, x2: W - 4, y2: H - 18 }),
      s('line', { class: 'axis', x1: PAD, y1: 8, x2: PAD, y2: H - 18 }),
      s('text', { x: 2, y: 14 }, fmt(max)), s('text', { x: 2, y: H - 18 }, '0'),
      s('text', { x: PAD, y: H - 4 }, `last ${span} s`),
      series.map((ser, i) => s('path', { class: `s${i}`,
        d: ser.values.map((v, j) => `${j ? 'L' : 'M'}${x(j).toFixed(1)},${y(v).toFixed(1)}`).join(' ') }))),
    h('p', { class: 'key' }, series.map((ser, i) => h('span', { class: `s${i}` }, `■ ${ser.label}: `,
      h('output', { dataset: { series: ser.label } }, fmt(ser.values.at(-1) ?? 0))))));
}
