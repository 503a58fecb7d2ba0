// The public API, called with the user's own identity. Nothing else talks
// to the server: every page goes through call().
const KEY = 'lbaas-dashboard-session';
// The page is served at <base>/dashboard/: the API lives at <base>/.
export const root = new URL('../', location.href).pathname;
const WRITERS = ['admin', 'member', 'load-balancer_member', 'load-balancer_admin'];
const ADMINS = ['admin', 'load-balancer_admin'];

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export function session() {
  try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
}
export function saveSession(value) { sessionStorage.setItem(KEY, JSON.stringify(value)); }
export function clearSession() { sessionStorage.removeItem(KEY); }

const roles = () => (session()?.roles || []);
export const canWrite = () => roles().some((r) => WRITERS.includes(r));
export const isAdmin = () => roles().some((r) => ADMINS.includes(r));

function headers() {
  const s = session() || {};
  const out = { Accept: 'application/json' };
  if (s.token) out['X-Auth-Token'] = s.token;
  else if (s.project) {
    out['X-Project-Id'] = s.project;
    out['X-Roles'] = (s.roles || []).join(',');
    if (s.user) out['X-User-Id'] = s.user;
  }
  return out;
}

// The API's own words: Octavia's faultstring, or Barbican's description.
function messageOf(status, body, fallback) {
  const text = body?.faultstring || body?.description || body?.title || fallback;
  return status === 403 ? `Forbidden (403): ${text}` : text;
}

export async function call(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(root + path, init);
  if (resp.status === 204) return null;
  const data = await resp.json().catch(() => null);
  if (!resp.ok) {
    if (resp.status === 401) {
      clearSession();
      location.hash = '#/login';
    }
    throw new ApiError(resp.status, messageOf(resp.status, data, resp.statusText));
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);
export const put = (path, body) => call('PUT', path, body);
export const del = (path) => call('DELETE', path);

// `lb('pools')` is the load-balancer API's path for a collection.
export const lb = (path) => `v2/lbaas/${path}`;

// Every page of a collection (follows the `next` links).
export async function list(collection, filters = {}, prefix = 'v2/lbaas/') {
  const key = collection.split('/').pop();
  const query = new URLSearchParams(filters);
  let url = `${prefix}${collection}${query.size ? '?' + query : ''}`;
  const found = [];
  for (let page = 0; url && page < 50; page++) {
    const data = await get(url);
    found.push(...data[key]);
    const next = (data[`${key}_links`] || []).find((l) => l.rel === 'next');
    url = next ? next.href.slice(next.href.indexOf(prefix)) : null;
  }
  return found;
}

// Wait while a load balancer is PENDING_* after a write (30 s at most).
export async function settle(lbId, timeout = 30000) {
  const until = Date.now() + timeout;
  for (;;) {
    let status;
    try {
      status = (await get(lb(`loadbalancers/${lbId}`))).loadbalancer.provisioning_status;
    } catch (err) {
      if (err.status === 404) return 'DELETED';
      throw err;
    }
    if (!status.startsWith('PENDING') || Date.now() > until) return status;
    await new Promise((r) => setTimeout(r, 300));
  }
}
