// The router: #/page/args -> a page module's render(main, ctx, ...args).
import { canWrite, clearSession, isAdmin, session } from './api.js';
import { clear, h } from './dom.js';
import * as admin from './admin.js';
import * as l7 from './l7.js';
import * as lbs from './lbs.js';
import * as login from './login.js';
import * as objects from './objects.js';
import * as stats from './stats.js';
import * as topology from './topology.js';
import * as wizard from './wizard.js';

const ROUTES = [
  [/^#\/login$/, login.render, 'Log in'],
  [/^#\/loadbalancers$/, lbs.render, 'Load balancers'],
  [/^#\/create$/, wizard.render, 'Create a load balancer'],
  [/^#\/loadbalancers\/([\w-]+)$/, topology.render, 'Topology'],
  [/^#\/loadbalancers\/([\w-]+)\/stats$/, stats.render, 'Statistics'],
  [/^#\/listeners\/([\w-]+)$/, objects.listener, 'Listener'],
  [/^#\/pools\/([\w-]+)$/, objects.pool, 'Pool'],
  [/^#\/l7policies\/([\w-]+)$/, l7.render, 'L7 policy'],
  [/^#\/admin\/([a-z]+)$/, admin.render, 'Administration'],
];

let timers = [];

function nav() {
  const here = location.hash;
  const item = (href, text) => h('li', {}, h('a', { href, 'aria-current': here === href ? 'page' : null }, text));
  const s = session();
  clear(document.getElementById('nav'), s ? h('ul', {},
    item('#/loadbalancers', 'Load balancers'),
    canWrite() ? item('#/create', 'Create') : null,
    isAdmin() ? admin.PAGES.map(([key, label]) => item(`#/admin/${key}`, label)) : null) : null);
  clear(document.getElementById('who'), s ? [
    h('span', {}, `${s.user || 'user'} · project ${s.project || '?'} · ${(s.roles || []).join(', ')}`),
    h('button', { class: 'secondary', type: 'button', id: 'logout',
      onclick: () => { clearSession(); location.hash = '#/login'; } }, 'Log out')] : null);
}

async function route() {
  timers.forEach(clearInterval);
  timers = [];
  if (!session() && location.hash !== '#/login') {
    location.hash = '#/login';
    return;
  }
  if (!location.hash || location.hash === '#/') {
    location.hash = '#/loadbalancers';
    return;
  }
  nav();
  const main = document.getElementById('main');
  const found = ROUTES.find(([re]) => re.test(location.hash));
  if (!found) {
    clear(main, h('h2', {}, 'Not found'), h('p', {}, h('a', { href: '#/loadbalancers' }, 'Load balancers')));
    return;
  }
  const [re, render, title] = found;
  document.title = `${title} · lbaas`;
  const ctx = {
    every(fn, ms) { timers.push(setInterval(fn, ms)); },
    // A page that re-renders itself (after a write) without a route change.
    reload: () => route(),
  };
  clear(main, h('p', { 'aria-busy': 'true' }, 'Loading…'));
  try {
    await render(main, ctx, ...location.hash.match(re).slice(1));
  } catch (err) {
    clear(main, h('h2', {}, title), h('p', { class: 'error', role: 'alert' }, err.message));
  }
  main.dataset.ready = location.hash;
  main.dataset.renders = Number(main.dataset.renders || 0) + 1;
  window.dashboardRendered = performance.now();
}

// The skip link focuses the page's content (its #main must not reach the router).
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main').focus();
});
window.addEventListener('hashchange', route);
route();
