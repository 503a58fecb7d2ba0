// A few DOM helpers: elements built with textContent only, never innerHTML.
const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

export const h = (tag, attrs, ...children) => fill(document.createElement(tag), attrs, children);
export const s = (tag, attrs, ...children) => fill(document.createElementNS(SVG_NS, tag), attrs, children);

export function clear(el, ...children) {
  el.replaceChildren();
  return fill(el, {}, children);
}

export const badge = (status) => h('span', { class: `badge st-${status}` }, status || '—');

export function tags(list) {
  return (list || []).map((t) => h('span', { class: 'tag' }, t));
}

export function toast(text) {
  const el = document.getElementById('toast');
  el.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.textContent = ''; }, 4000);
}

// A modal confirmation listing what goes; resolves true on "Delete".
export function confirmDelete(title, items, okLabel = 'Delete') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  clear(document.getElementById('confirm-body'),
    items.length ? h('p', {}, 'This deletes:') : null,
    items.length ? h('ul', { id: 'confirm-list' }, items.map((i) => h('li', {}, i))) : null);
  document.getElementById('confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = 'cancel';
    dialog.showModal();
  });
}

// A table: columns are {label, cell(row), sortKey?}. Returns the <table>.
export function table(columns, rows, { caption, id } = {}) {
  return h('div', { class: 'scroll' }, h('table', { id, dataset: { count: rows.length } },
    caption ? h('caption', { class: 'hint' }, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.label)))),
    h('tbody', {}, rows.map((r) => h('tr', { dataset: { id: r.id ?? '' } },
      columns.map((c) => h('td', { 'data-label': c.label }, c.cell(r))))))));
}

export const link = (href, text) => h('a', { href }, text);
export const short = (id) => (id ? id.slice(0, 8) : '');
export const nameOf = (obj) => obj.name || short(obj.id);
