// Administration: users (tags), virtual hosts and permissions, policies, definitions export and
// import. Users, vhosts, permissions and definitions need the administrator tag; policies need
// policymaker. A broker that predates /api/policies or definitions import answers 404 or 405:
// the pages say so instead of failing.

import { get, put, post, del, enc, session } from '../api.js';
import {
  h, clear, num, table, tags, args, empty, errorBox, toast, busy, confirmDialog, formValues,
  parseArgs, vhostLabel, pageHead, panel, errorText,
} from '../ui.js';

const KNOWN_TAGS = ['administrator', 'monitoring', 'policymaker', 'management'];
const tagList = (t) => (Array.isArray(t) ? t : String(t || '').split(',').filter(Boolean));
const missing = (e) => e && (e.status === 404 || e.status === 405);

async function vhostNames() {
  return (await get('/api/vhosts?columns=name')).map((v) => v.name);
}

function formError() {
  return h('p', { class: 'form-error', hidden: true });
}
function showError(el, e) {
  el.textContent = errorText(e);
  el.hidden = false;
}

// Users

export async function usersPage(main, _params, ctx) {
  const me = session().user;
  const listBox = h('div', null, h('div', { class: 'loading' }, 'Loading…'));
  const permBox = h('div');
  const vhosts = await vhostNames();

  async function load() {
    let users;
    let perms;
    try {
      [users, perms] = await Promise.all([get('/api/users'), get('/api/permissions')]);
    } catch (e) {
      clear(listBox, errorBox(e));
      return;
    }
    const byUser = {};
    for (const p of perms) (byUser[p.user] ||= []).push(p.vhost);
    clear(listBox, table([
      { label: 'Name', cell: (u) => [h('span', { class: 'name' }, u.name), u.name === me ? h('span', { class: 'tag ok' }, 'you') : null] },
      { label: 'Tags', cell: (u) => tagsCell(u) },
      { label: 'Virtual hosts', cell: (u) => (byUser[u.name] ? byUser[u.name].map((v) => h('span', { class: 'tag grey' }, v)) : h('span', { class: 'muted' }, 'no access')) },
      { label: 'Password', cell: (u) => (u.password_hash ? 'set' : h('span', { class: 'tag warn' }, 'none')) },
      {
        label: '', actions: true,
        cell: (u) => (u.name === me ? h('span', { class: 'hint' }, 'signed in') : h('button', {
          class: 'link-danger', 'data-user': u.name,
          onclick: async (ev) => {
            if (!(await confirmDialog('Delete user', `Delete user “${u.name}”? Their connections stay open until they close.`))) return;
            await busy(ev.target, async () => {
              await del(`/api/users/${enc(u.name)}`);
              toast(`User ${u.name} deleted`);
              load();
            });
          },
        }, 'Delete')),
      },
    ], users, empty('No users')));
    clear(permBox, permissionsTable(perms, load));
  }

  function tagsCell(u) {
    const cell = h('span', null, tags(u.tags), ' ', h('button', {
      class: 'small ghost',
      onclick: () => {
        const input = h('input', { value: tagList(u.tags).join(', '), 'aria-label': 'tags', size: 28 });
        const save = h('button', {
          class: 'small primary',
          onclick: () => busy(save, async () => {
            await put(`/api/users/${enc(u.name)}`, { tags: input.value.split(',').map((t) => t.trim()).filter(Boolean).join(',') });
            toast(`Tags of ${u.name} saved`);
            load();
          }),
        }, 'Save');
        clear(cell, input, ' ', save, ' ', h('button', { class: 'small ghost', onclick: () => load() }, 'Cancel'));
        input.focus();
      },
    }, 'Edit'));
    return cell;
  }

  const err = formError();
  const form = h('form', { class: 'form', id: 'add-user' },
    h('label', null, 'Username', h('input', { name: 'name', required: true, autocomplete: 'off' })),
    h('label', null, 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'new-password' })),
    h('div', { class: 'wide toolbar' }, h('span', { class: 'muted' }, 'Tags'),
      KNOWN_TAGS.map((t) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: `tag_${t}` }), t)),
      h('input', { name: 'tags_other', placeholder: 'other tags, comma-separated', autocomplete: 'off' })),
    h('label', { class: 'check wide' }, h('input', { type: 'checkbox', name: 'grant', checked: true }),
      'Give full permissions on vhost ', h('select', { name: 'grant_vhost' }, vhosts.map((v) => h('option', { value: v }, v)))),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add user'),
      h('span', { class: 'hint' }, 'Without a password the user can only log in with a client certificate.')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    err.hidden = true;
    const t = KNOWN_TAGS.filter((k) => v[`tag_${k}`]).concat(v.tags_other.split(',').map((x) => x.trim()).filter(Boolean));
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        const body = { tags: t.join(',') };
        if (v.password) body.password = v.password;
        else body.password_hash = '';
        await put(`/api/users/${enc(v.name)}`, body);
        if (v.grant) await put(`/api/permissions/${enc(v.grant_vhost)}/${enc(v.name)}`, { configure: '.*', write: '.*', read: '.*' });
      } catch (e) {
        showError(err, e);
        return;
      }
      toast(`User ${v.name} added`);
      form.reset();
      load();
    });
  });

  clear(main, pageHead('Users'),
    h('section', { class: 'panel' }, listBox),
    h('details', { class: 'panel section', open: true }, h('summary', null, 'Add a user'), form),
    panel('Permissions', permBox, await permissionForm(vhosts, load)));
  await load();
}

function permissionsTable(perms, reload) {
  return table([
    { label: 'User', cell: (p) => h('span', { class: 'name' }, p.user) },
    { label: 'Virtual host', cell: (p) => vhostLabel(p.vhost) },
    { label: 'Configure', cell: (p) => h('span', { class: 'mono' }, p.configure || '(none)') },
    { label: 'Write', cell: (p) => h('span', { class: 'mono' }, p.write || '(none)') },
    { label: 'Read', cell: (p) => h('span', { class: 'mono' }, p.read || '(none)') },
    {
      label: '', actions: true,
      cell: (p) => h('button', {
        class: 'link-danger',
        onclick: async (ev) => {
          if (!(await confirmDialog('Clear permissions', `Remove ${p.user}'s access to vhost “${p.vhost}”?`, 'Clear'))) return;
          await busy(ev.target, async () => {
            await del(`/api/permissions/${enc(p.vhost)}/${enc(p.user)}`);
            toast('Permissions cleared');
            reload();
          });
        },
      }, 'Clear'),
    },
  ], perms, empty('No permissions', 'A user needs permissions on a vhost to use it.'));
}

async function permissionForm(vhosts, reload) {
  let users = [];
  try {
    users = (await get('/api/users')).map((u) => u.name);
  } catch {
    /* the table shows the error */
  }
  const err = formError();
  const form = h('form', { class: 'form set-permission' },
    h('label', null, 'User', h('input', { name: 'user', required: true, list: 'perm-users', autocomplete: 'off' })),
    h('datalist', { id: 'perm-users' }, users.map((u) => h('option', { value: u }))),
    h('label', null, 'Virtual host', h('select', { name: 'vhost' }, vhosts.map((v) => h('option', { value: v }, v)))),
    h('label', null, 'Configure', h('input', { name: 'configure', value: '.*', class: 'mono' })),
    h('label', null, 'Write', h('input', { name: 'write', value: '.*', class: 'mono' })),
    h('label', null, 'Read', h('input', { name: 'read', value: '.*', class: 'mono' })),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Set permissions'),
      h('span', { class: 'hint' }, 'Regular expressions over resource names; empty means none.')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    err.hidden = true;
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await put(`/api/permissions/${enc(v.vhost)}/${enc(v.user)}`, { configure: v.configure, write: v.write, read: v.read });
      } catch (e) {
        showError(err, e);
        return;
      }
      toast(`Permissions of ${v.user} on ${v.vhost} set`);
      reload();
    });
  });
  return h('div', null, h('h3', { class: 'subhead' }, 'Set permissions'), form);
}

// Virtual hosts

export async function vhostsPage(main, _params, ctx) {
  const listBox = h('div', null, h('div', { class: 'loading' }, 'Loading…'));
  const permBox = h('div');
  let vhosts = [];
  async function load() {
    let perms;
    try {
      [vhosts, perms] = await Promise.all([get('/api/vhosts'), get('/api/permissions')]);
    } catch (e) {
      clear(listBox, errorBox(e));
      return;
    }
    clear(listBox, table([
      { label: 'Name', cell: (v) => h('span', { class: 'name' }, vhostLabel(v.name)) },
      { label: 'Description', cell: (v) => v.description || h('span', { class: 'muted' }, '–') },
      { label: 'Tags', cell: (v) => tags(v.tags, 'grey') },
      { label: 'Users', num: true, cell: (v) => num(perms.filter((p) => p.vhost === v.name).length) },
      { label: 'Ready', num: true, cell: (v) => num(v.messages_ready) },
      { label: 'Unacked', num: true, cell: (v) => num(v.messages_unacknowledged) },
      { label: 'Total', num: true, cell: (v) => num(v.messages) },
      {
        label: '', actions: true,
        cell: (v) => h('button', {
          class: 'link-danger',
          onclick: async (ev) => {
            if (!(await confirmDialog('Delete virtual host', `Delete vhost “${v.name}” with all its queues, exchanges and messages? This cannot be undone.`))) return;
            await busy(ev.target, async () => {
              await del(`/api/vhosts/${enc(v.name)}`);
              toast(`Virtual host ${v.name} deleted`);
              window.dispatchEvent(new Event('warren:vhosts')); // the top bar's picker
              load();
            });
          },
        }, 'Delete'),
      },
    ], vhosts, empty('No virtual hosts')));
    clear(permBox, permissionsTable(perms, load));
  }
  const err = formError();
  const form = h('form', { class: 'form', id: 'add-vhost' },
    h('label', null, 'Name', h('input', { name: 'name', required: true, autocomplete: 'off' })),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add virtual host'),
      h('span', { class: 'hint' }, 'You get full permissions on it.')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    err.hidden = true;
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await put(`/api/vhosts/${enc(v.name)}`, {});
        await put(`/api/permissions/${enc(v.name)}/${enc(session().user)}`, { configure: '.*', write: '.*', read: '.*' });
      } catch (e) {
        showError(err, e);
        return;
      }
      toast(`Virtual host ${v.name} added`);
      window.dispatchEvent(new Event('warren:vhosts'));
      form.reset();
      load();
    });
  });
  clear(main, pageHead('Virtual hosts'),
    h('section', { class: 'panel' }, listBox),
    h('details', { class: 'panel section' }, h('summary', null, 'Add a virtual host'), form),
    panel('Permissions', permBox, await permissionForm(await vhostNames(), load)));
  await load();
}

// Policies

const APPLY_TO = ['all', 'queues', 'exchanges', 'classic_queues', 'quorum_queues', 'streams'];

export async function policiesPage(main, _params, ctx) {
  const vhost = ctx.vhost;
  const listBox = h('div', null, h('div', { class: 'loading' }, 'Loading…'));
  const formBox = h('div');
  clear(main, pageHead('Policies', vhost ? `vhost ${vhostLabel(vhost)}` : 'all virtual hosts'),
    h('section', { class: 'panel' }, listBox), formBox);

  let supported = true;
  let edit = null; // fills the add-or-update form with a policy, once the form exists
  async function load() {
    let list;
    try {
      list = await get(vhost ? `/api/policies/${enc(vhost)}` : '/api/policies');
    } catch (e) {
      if (missing(e)) {
        supported = false;
        clear(listBox, h('div', { class: 'info-box' },
          'This broker does not manage policies at run time (it has no /api/policies): its policies come from the configuration file.'));
        return;
      }
      clear(listBox, errorBox(e));
      return;
    }
    clear(listBox, table([
      { label: 'Name', cell: (p) => h('span', { class: 'name' }, p.name) },
      !vhost && { label: 'Virtual host', cell: (p) => vhostLabel(p.vhost) },
      { label: 'Pattern', cell: (p) => h('span', { class: 'mono' }, p.pattern) },
      { label: 'Apply to', cell: (p) => h('span', { class: 'tag grey' }, p['apply-to']) },
      { label: 'Priority', num: true, cell: (p) => num(p.priority) },
      { label: 'Definition', cell: (p) => args(p.definition) },
      {
        label: '', actions: true,
        cell: (p) => [h('button', { class: 'small ghost', onclick: () => edit && edit(p) }, 'Edit'), ' ', h('button', {
          class: 'link-danger',
          onclick: async (ev) => {
            if (!(await confirmDialog('Delete policy', `Delete policy “${p.name}” in vhost “${p.vhost}”? Matching queues lose its settings.`))) return;
            await busy(ev.target, async () => {
              await del(`/api/policies/${enc(p.vhost)}/${enc(p.name)}`);
              toast(`Policy ${p.name} deleted`);
              load();
            });
          },
        }, 'Delete')],
      },
    ].filter(Boolean), list, empty('No policies', 'A policy sets arguments such as max-length or message-ttl on every queue whose name matches its pattern.')));
  }
  await load();
  if (!supported) return;

  let vhosts = ['/'];
  try {
    vhosts = await vhostNames();
  } catch {
    /* "/" */
  }
  const err = formError();
  const form = h('form', { class: 'form', id: 'add-policy' },
    h('label', null, 'Virtual host', h('select', { name: 'vhost' }, vhosts.map((v) => h('option', { value: v, selected: v === (vhost || '/') }, v)))),
    h('label', null, 'Name', h('input', { name: 'name', required: true, autocomplete: 'off' })),
    h('label', null, 'Pattern', h('input', { name: 'pattern', required: true, class: 'mono', placeholder: '^orders\\.', autocomplete: 'off' })),
    h('label', null, 'Apply to', h('select', { name: 'apply_to' }, APPLY_TO.map((a) => h('option', { value: a }, a)))),
    h('label', null, 'Priority', h('input', { name: 'priority', type: 'number', value: 0 })),
    h('label', { class: 'wide' }, 'Definition', h('textarea', { name: 'definition', rows: 3, required: true, placeholder: 'max-length=10000\nmessage-ttl=60000\ndead-letter-exchange=dlx' }),
      h('span', { class: 'hint' }, 'One key=value a line, or a JSON object.')),
    err,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add or update policy')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    err.hidden = true;
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await put(`/api/policies/${enc(v.vhost)}/${enc(v.name)}`, {
          pattern: v.pattern, definition: parseArgs(v.definition), priority: Number(v.priority) || 0, 'apply-to': v.apply_to,
        });
      } catch (e) {
        showError(err, missing(e) ? 'This broker cannot set policies at run time.' : e);
        return;
      }
      toast(`Policy ${v.name} saved`);
      load();
    });
  });
  const details = h('details', { class: 'panel section' }, h('summary', null, 'Add or update a policy'), form);
  clear(formBox, details);
  edit = (p) => {
    const set = (name, value) => { form.querySelector(`[name=${name}]`).value = value; };
    set('vhost', p.vhost);
    set('name', p.name);
    set('pattern', p.pattern);
    set('apply_to', p['apply-to'] || 'all');
    set('priority', p.priority || 0);
    const def = p.definition || {};
    const flat = Object.values(def).every((v) => v === null || typeof v !== 'object');
    set('definition', flat ? Object.entries(def).map(([k, v]) => `${k}=${v}`).join('\n') : JSON.stringify(def, null, 2));
    details.open = true;
    details.scrollIntoView({ behavior: 'smooth' });
  };
}

// Definitions

export async function definitionsPage(main, _params, ctx) {
  const vhost = ctx.vhost;
  const path = vhost ? `/api/definitions/${enc(vhost)}` : '/api/definitions';
  const summary = h('div', null, h('div', { class: 'loading' }, 'Loading…'));
  const scope = vhost ? `vhost “${vhost}”` : 'the whole broker';

  const download = h('button', {
    class: 'primary', id: 'download-definitions',
    onclick: () => busy(download, async () => {
      const text = await get(path, { raw: true });
      const blob = new Blob([text], { type: 'application/json' });
      const a = h('a', { href: URL.createObjectURL(blob), download: `warren-definitions${vhost ? `-${vhost.replace(/[^\w.-]+/g, '_')}` : ''}-${new Date().toISOString().slice(0, 10)}.json` });
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    }),
  }, 'Download definitions');

  const file = h('input', { type: 'file', accept: '.json,application/json', id: 'definitions-file' });
  const result = h('div');
  const upload = h('button', {
    id: 'upload-definitions',
    onclick: () => busy(upload, async () => {
      clear(result);
      if (!file.files.length) {
        clear(result, h('p', { class: 'form-error' }, 'Choose a definitions file first.'));
        return;
      }
      const text = await file.files[0].text();
      try {
        const parsed = JSON.parse(text);
        if (typeof parsed !== 'object' || Array.isArray(parsed) || parsed === null) throw new Error('not a JSON object');
      } catch (e) {
        clear(result, h('p', { class: 'form-error' }, `That file is not a definitions export: ${e.message}`));
        return;
      }
      try {
        await post(path, text);
      } catch (e) {
        clear(result, h('p', { class: 'form-error' },
          missing(e) ? 'This broker cannot import definitions yet (POST /api/definitions is not available).' : errorText(e)));
        return;
      }
      clear(result, h('div', { class: 'info-box' }, 'Definitions imported.'));
      toast('Definitions imported');
      loadSummary();
    }),
  }, 'Import definitions');

  async function loadSummary() {
    try {
      const d = await get(path);
      const rows = ['users', 'vhosts', 'permissions', 'topic_permissions', 'policies', 'queues', 'exchanges', 'bindings', 'parameters']
        .filter((k) => Array.isArray(d[k]))
        .map((k) => ({ k, n: d[k].length }));
      clear(summary, table([
        { label: 'Kind', cell: (r) => r.k.replace('_', ' ') },
        { label: 'Count', num: true, cell: (r) => num(r.n) },
      ], rows));
    } catch (e) {
      clear(summary, errorBox(e));
    }
  }

  clear(main, pageHead('Definitions', scope),
    h('div', { class: 'grid two' },
      panel('Export', h('p', null, `Everything that recreates ${scope}: users and permissions${vhost ? '' : ''}, vhosts, policies, durable queues and exchanges and their bindings, in RabbitMQ's definitions format (rabbitmqadmin export reads the same).`),
        h('div', { class: 'toolbar' }, download), summary),
      panel('Import', h('p', null, `Upload a definitions file exported from Warren or RabbitMQ; objects are created or updated in ${scope}, nothing is deleted.`),
        h('div', { class: 'toolbar' }, file, upload), result)));
  await loadSummary();
}
