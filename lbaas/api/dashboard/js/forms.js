// Forms built from field specs: {name, label, type, options, help, required, min, max}.
// Types: text, number, select, bool, textarea, list (comma separated), json.
import { h } from './dom.js';

let counter = 0;

function input(spec, value, id) {
  const common = { id, name: spec.name, required: spec.required, 'aria-describedby':
    spec.help ? `${id}-help` : null, disabled: spec.disabled };
  switch (spec.type) {
    case 'bool':
      return h('input', { ...common, type: 'checkbox', checked: value ?? spec.default ?? false });
    case 'select':
      return h('select', common, (spec.optional === false ? [] : [h('option', { value: '' }, '—')]),
        spec.options.map((o) => {
          const [val, text] = Array.isArray(o) ? o : [o, o];
          return h('option', { value: val, selected: String(value ?? spec.default ?? '') === String(val) }, text);
        }));
    case 'textarea':
      return h('textarea', { ...common, value: value ?? '' });
    case 'json':
      return h('textarea', { ...common, value: value == null ? '' : JSON.stringify(value) });
    case 'list':
      return h('input', { ...common, type: 'text', value: (value || []).join(', '), list: spec.datalist });
    case 'number':
      return h('input', { ...common, type: 'number', value: value ?? '', min: spec.min, max: spec.max,
        step: spec.step || 'any' });
    default:
      return h('input', { ...common, type: spec.type === 'password' ? 'password' : 'text', value: value ?? '', placeholder: spec.placeholder,
        list: spec.datalist });
  }
}

export function field(spec, value) {
  const id = `f${++counter}-${spec.name}`;
  const control = input(spec, value ?? spec.default, id);
  return h('div', { class: spec.type === 'bool' ? 'field check' : 'field', dataset: { field: spec.name } },
    spec.type === 'bool' ? control : null,
    h('label', { for: id }, spec.label),
    spec.type === 'bool' ? null : control,
    spec.help ? h('span', { class: 'hint', id: `${id}-help` }, spec.help) : null);
}

function read(spec, el) {
  if (spec.type === 'bool') return el.checked;
  const raw = el.value.trim();
  if (raw === '') return undefined;
  if (spec.type === 'number' || spec.numeric) return Number(raw);
  if (spec.type === 'list') return raw.split(',').map((x) => x.trim()).filter(Boolean);
  if (spec.type === 'json') {
    try { return JSON.parse(raw); } catch { throw new Error(`${spec.label}: not valid JSON`); }
  }
  return raw;
}

// The values of `specs` in `root`. With `original`, only what changed (a
// cleared field becomes null); without, only what was filled in.
export function values(root, specs, original) {
  const out = {};
  for (const spec of specs) {
    const el = root.querySelector(`[data-field="${spec.name}"] [name="${spec.name}"]`);
    if (!el || spec.disabled) continue;
    const value = read(spec, el);
    if (original) {
      const before = original[spec.name];
      const same = JSON.stringify(value ?? null) === JSON.stringify(spec.type === 'list' ? (before ?? []) : (before ?? null))
        || (value === undefined && (before == null || (Array.isArray(before) && !before.length)));
      if (!same) out[spec.name] = value === undefined ? (spec.type === 'list' ? [] : null) : value;
    } else if (value !== undefined && !(spec.type === 'bool' && value === (spec.default ?? false) && !spec.always)) {
      out[spec.name] = value;
    }
  }
  return out;
}

// A whole form: fields, an error line (the API's message), a submit button.
// `onSubmit(data)` may throw; its message is shown in the form.
export function form({ specs, value, initial, submit = 'Save', onSubmit, legend, readOnly, id, extra }) {
  const error = h('p', { class: 'error', role: 'alert' });
  const button = h('button', { type: 'submit' }, submit);
  const el = h('form', { id, novalidate: true },
    h('fieldset', { disabled: readOnly },
      legend ? h('legend', {}, legend) : null,
      h('div', { class: 'grid' }, specs.map((spec) => field(spec, (value || initial)?.[spec.name]))),
      extra || null,
      readOnly ? null : h('div', { class: 'toolbar' }, button),
      error));
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    button.disabled = true;
    try {
      await onSubmit(values(el, specs, value), el);
    } catch (err) {
      error.textContent = err.message;
      error.dataset.status = err.status || '';
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

// The vocabularies of the API (Octavia's), shared by the pages.
export const V = {
  protocols: ['HTTP', 'HTTPS', 'TCP', 'TERMINATED_HTTPS', 'UDP', 'SCTP', 'PROMETHEUS'],
  poolProtocols: ['HTTP', 'HTTPS', 'PROXY', 'PROXYV2', 'TCP', 'UDP', 'SCTP'],
  algorithms: ['ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP', 'SOURCE_IP_PORT'],
  persistence: ['SOURCE_IP', 'HTTP_COOKIE', 'APP_COOKIE'],
  monitors: ['HTTP', 'HTTPS', 'PING', 'TCP', 'TLS-HELLO', 'UDP-CONNECT', 'SCTP'],
  httpMethods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'OPTIONS', 'PATCH', 'CONNECT'],
  actions: ['REJECT', 'REDIRECT_TO_URL', 'REDIRECT_TO_POOL', 'REDIRECT_PREFIX'],
  ruleTypes: ['HOST_NAME', 'PATH', 'FILE_TYPE', 'HEADER', 'COOKIE', 'SSL_CONN_HAS_CERT',
    'SSL_VERIFY_RESULT', 'SSL_DN_FIELD'],
  compareTypes: ['REGEX', 'STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'EQUAL_TO'],
  redirectCodes: ['301', '302', '303', '307', '308'],
  clientAuth: ['NONE', 'OPTIONAL', 'MANDATORY'],
};
