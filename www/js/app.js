// The app shell: login, the hash router (#/queues, #/queues/%2F/orders, ...), the navigation, the
// vhost picker and the page lifecycle (a page's timers stop when another page is shown).

import { login, session, clearSession, get, isAdmin, setUnauthorisedHandler } from './api.js';
import { hashState } from './nav.js';
import { h, clear, errorText, errorBox } from './ui.js';
import * as stats from './stats.js';
import { overviewPage } from './pages/overview.js';
import { queuesPage, queuePage } from './pages/queues.js';
import { exchangesPage, exchangePage } from './pages/exchanges.js';
import { connectionsPage, channelsPage } from './pages/connections.js';
import { usersPage, vhostsPage, policiesPage, definitionsPage } from './pages/admin.js';

const $ = (id) => document.getElementById(id);

// [pattern, page, nav item]; patterns are '/'-separated with :params (URL-encoded in the hash).
const routes = [
  ['', overviewPage, 'overview'],
  ['queues', queuesPage, 'queues'],
  ['queues/:vhost/:name', queuePage, 'queues'],
  ['exchanges', exchangesPage, 'exchanges'],
  ['exchanges/:vhost/:name', exchangePage, 'exchanges'],
  ['connections', connectionsPage, 'connections'],
  ['channels', channelsPage, 'channels'],
  ['users', usersPage, 'users'],
  ['vhosts', vhostsPage, 'vhosts'],
  ['policies', policiesPage, 'policies'],
  ['definitions', definitionsPage, 'definitions'],
];

// Per-page resources: timers and teardown callbacks, released on navigation.
class PageContext {
  constructor() {
    this.timers = [];
    this.cleanups = [];
    this.alive = true;
  }
  every(ms, fn) {
    this.timers.push(setInterval(() => { if (this.alive) fn(); }, ms));
  }
  onLeave(fn) {
    this.cleanups.push(fn);
  }
  get vhost() {
    return $('vhost-select').value;
  }
  close() {
    this.alive = false;
    this.timers.forEach(clearInterval);
    this.cleanups.forEach((f) => f());
  }
}

let current = null;

function match(path) {
  const parts = path.split('/').filter((p, i) => p !== '' || i > 0);
  for (const [pattern, page, nav] of routes) {
    const segs = pattern === '' ? [] : pattern.split('/');
    if (segs.length !== parts.length) continue;
    const params = {};
    let ok = true;
    segs.forEach((s, i) => {
      if (s.startsWith(':')) {
        try {
          params[s.slice(1)] = decodeURIComponent(parts[i]);
        } catch {
          ok = false;
        }
      } else if (s !== parts[i]) ok = false;
    });
    if (ok) return { page, nav, params };
  }
  return null;
}

async function render() {
  if (!session()) return;
  if (current) current.close();
  const ctx = new PageContext();
  current = ctx;
  const { path, query } = hashState();
  const m = match(path);
  const main = $('main');
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', !!m && a.dataset.page === m.nav);
  if (!m) {
    clear(main, h('div', { class: 'empty' }, h('strong', null, 'No such page'), h('a', { href: '#/' }, 'Back to the overview')));
    return;
  }
  clear(main, h('div', { class: 'loading' }, 'Loading…'));
  window.scrollTo(0, 0);
  try {
    await m.page(main, m.params, ctx, query);
  } catch (e) {
    if (ctx.alive) clear(main, errorBox(e));
  }
}

async function loadVhosts() {
  const sel = $('vhost-select');
  const keep = sel.value || sessionStorage.getItem('warren.vhost') || '';
  try {
    const vhosts = await get('/api/vhosts?columns=name');
    clear(sel, h('option', { value: '' }, 'All'), vhosts.map((v) => h('option', { value: v.name }, v.name)));
    sel.value = vhosts.some((v) => v.name === keep) ? keep : '';
  } catch {
    /* the page shows the API's error */
  }
}

function showLogin(message) {
  stats.stop();
  if (current) current.close();
  current = null;
  $('shell').hidden = true;
  $('login').hidden = false;
  const err = $('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  $('login-user').focus();
}

async function showShell() {
  const s = session();
  $('login').hidden = true;
  $('shell').hidden = false;
  $('whoami').textContent = s.user;
  $('whoami').title = `tags: ${(s.tags || []).join(', ') || 'none'}`;
  for (const a of document.querySelectorAll('#nav a[data-admin]')) a.hidden = !isAdmin();
  stats.start();
  await loadVhosts();
  await render();
}

function footer(st) {
  const ov = st.overview;
  if (!ov) return;
  $('footer-info').textContent =
    `${ov.product_name || 'Warren'} ${ov.product_version || ''} · node ${ov.node} · RabbitMQ management API ${ov.management_version}`;
}

function boot() {
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const btn = $('login-submit');
    btn.disabled = true;
    try {
      await login($('login-user').value, $('login-password').value);
      $('login-password').value = '';
      await showShell();
    } catch (e) {
      const text = e.status === 401 ? `Login failed: ${e.reason || 'wrong username or password'}` : errorText(e);
      $('login-error').textContent = text;
      $('login-error').hidden = false;
    } finally {
      btn.disabled = false;
    }
  });
  $('logout').addEventListener('click', () => {
    clearSession();
    showLogin();
  });
  $('vhost-select').addEventListener('change', () => {
    sessionStorage.setItem('warren.vhost', $('vhost-select').value);
    render();
  });
  setUnauthorisedHandler(() => {
    clearSession();
    showLogin('Your session is no longer valid: please sign in again.');
  });
  window.addEventListener('warren:vhosts', loadVhosts); // a vhost was added or deleted
  stats.subscribe(footer);
  window.addEventListener('hashchange', render);
  if (session()) showShell();
  else showLogin();
}

boot();
