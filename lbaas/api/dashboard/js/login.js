// Log in: a project chooser under noauth, Keystone credentials (or a token) under keystone.
import { get, root, saveSession } from './api.js';
import { clear, h } from './dom.js';
import { form } from './forms.js';

const NOAUTH_ROLES = [['member', 'member (read and write)'], ['reader', 'reader (read only)'],
  ['admin', 'admin (every project, administration)']];

// Through lbaas (same origin), which relays the request to its Keystone.
async function keystoneToken(data) {
  const identity = data.token
    ? { methods: ['token'], token: { id: data.token } }
    : { methods: ['password'], password: { user: { name: data.user, password: data.password,
      domain: { name: data.user_domain || 'Default' } } } };
  const scope = { project: { name: data.project, domain: { name: data.project_domain || 'Default' } } };
  const resp = await fetch(`${root}dashboard/auth/tokens`, { method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ auth: { identity, scope } }) });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body?.error?.message || `Keystone answered ${resp.status}`);
  const token = body.token;
  return { token: resp.headers.get('X-Subject-Token'), user: token.user?.name,
    project: token.project?.id, projectName: token.project?.name,
    roles: (token.roles || []).map((r) => r.name), expires: token.expires_at };
}

export async function render(main) {
  const conf = await fetch(`${root}dashboard/config.json`).then((r) => r.json());
  const done = (sess) => { saveSession(sess); location.hash = '#/loadbalancers'; };
  if (conf.auth_strategy === 'keystone') {
    clear(main, h('h2', {}, 'Log in'),
      h('p', {}, `Keystone: ${conf.keystone_url || '(not advertised: ask the operator)'}`),
      form({ id: 'login', submit: 'Log in', specs: [
        { name: 'user', label: 'User name' },
        { name: 'password', label: 'Password', type: 'password' },
        { name: 'project', label: 'Project name', required: true },
        { name: 'user_domain', label: 'User domain', placeholder: 'Default' },
        { name: 'project_domain', label: 'Project domain', placeholder: 'Default' },
        { name: 'token', label: 'Or an existing token' }],
      onSubmit: async (data) => done(await keystoneToken(data)) }));
    return;
  }
  clear(main, h('h2', {}, 'Choose a project'),
    h('p', { class: 'hint' }, 'This deployment runs without Keystone (noauth): the project and ' +
      'role chosen here are sent as X-Project-Id and X-Roles.'),
    form({ id: 'login', submit: 'Enter', initial: { project: conf.default_project_id || '' },
      specs: [
        { name: 'project', label: 'Project ID', required: true },
        { name: 'role', label: 'Role', type: 'select', options: NOAUTH_ROLES, optional: false },
        { name: 'user', label: 'User name (optional)' }],
      onSubmit: async (data) => {
        if (!data.project) throw new Error('A project ID is needed.');
        const sess = { project: data.project, roles: [data.role || 'member'], user: data.user };
        saveSession(sess);
        await get('v2/lbaas/loadbalancers?limit=1');  // the API accepts us
        done(sess);
      } }));
}
