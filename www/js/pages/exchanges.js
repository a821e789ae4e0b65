// Exchanges: the paged list and the add form; an exchange's page with its bindings, publish and
// delete.

import { get, put, del, enc } from '../api.js';
import {
  h, clear, num, rate, panel, kv, args, yesNo, empty, errorBox, toast, busy, confirmDialog,
  formValues, parseArgs, vhostLabel, exchangeLabel, pageHead,
} from '../ui.js';
import { pagedTable } from '../paged.js';
import { link, setQuery } from '../nav.js';
import { bindingsTable, addBindingForm, publishForm } from './shared.js';

function features(x) {
  const out = [];
  if (x.durable) out.push(h('span', { class: 'tag grey', title: 'durable' }, 'D'));
  if (x.auto_delete) out.push(h('span', { class: 'tag grey', title: 'auto-delete' }, 'AD'));
  if (x.internal) out.push(h('span', { class: 'tag grey', title: 'internal' }, 'I'));
  for (const k of Object.keys(x.arguments || {})) out.push(h('span', { class: 'tag', title: `${k} = ${JSON.stringify(x.arguments[k])}` }, k));
  return out.length ? out : h('span', { class: 'muted' }, '–');
}

function statCell(x, field) {
  const ms = x.message_stats || {};
  const d = ms[`${field}_details`];
  if (d && typeof d.rate === 'number') return rate(d.rate);
  return h('span', { title: 'total since start' }, num(ms[field] || 0));
}

export async function exchangesPage(main, _params, ctx, query) {
  const vhost = ctx.vhost;
  const list = pagedTable({
    base: vhost ? `/api/exchanges/${enc(vhost)}` : '/api/exchanges',
    noun: 'exchange', query, onQuery: setQuery,
    columns: [
      { label: 'Name', sort: 'name', cell: (x) => h('a', { class: 'name', href: link.exchange(x.vhost, x.name) }, exchangeLabel(x.name)) },
      !vhost && { label: 'Virtual host', sort: 'vhost', cell: (x) => x.vhost },
      { label: 'Type', sort: 'type', cell: (x) => h('span', { class: 'tag' }, x.type) },
      { label: 'Features', cell: features },
      { label: 'Published in', num: true, sort: 'message_stats.publish_in', cell: (x) => statCell(x, 'publish_in') },
      { label: 'Unroutable', num: true, cell: (x) => statCell(x, 'drop_unroutable') },
    ].filter(Boolean),
  });
  let types = ['direct', 'fanout', 'topic', 'headers'];
  try {
    types = ((await get('/api/overview?columns=exchange_types')).exchange_types || []).map((t) => t.name);
  } catch {
    /* keep the four standard types */
  }
  let vhosts = ['/'];
  try {
    vhosts = (await get('/api/vhosts?columns=name')).map((v) => v.name);
  } catch {
    /* "/" */
  }
  const error = h('p', { class: 'form-error', hidden: true });
  const form = h('form', { class: 'form', id: 'add-exchange' },
    h('label', null, 'Virtual host', h('select', { name: 'vhost' }, vhosts.map((n) => h('option', { value: n, selected: n === (vhost || '/') }, n)))),
    h('label', null, 'Name', h('input', { name: 'name', required: true, autocomplete: 'off', placeholder: 'events' })),
    h('label', null, 'Type', h('select', { name: 'type' }, types.map((t) => h('option', { value: t }, t)))),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'durable', checked: true }), 'Durable'),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'auto_delete' }), 'Auto-delete'),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'internal' }), 'Internal'),
    h('label', { class: 'wide' }, 'Arguments', h('input', { name: 'arguments', placeholder: 'alternate-exchange=unrouted', autocomplete: 'off' })),
    error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add exchange')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    error.hidden = true;
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await put(`/api/exchanges/${enc(v.vhost)}/${enc(v.name)}`, {
          type: v.type, durable: v.durable, auto_delete: v.auto_delete, internal: v.internal, arguments: parseArgs(v.arguments),
        });
      } catch (e) {
        error.textContent = e.reason || e.message;
        error.hidden = false;
        return;
      }
      toast(`Exchange ${v.name} added`);
      form.querySelector('[name=name]').value = '';
      list.load();
    });
  });
  clear(main,
    pageHead('Exchanges', vhost ? `vhost ${vhostLabel(vhost)}` : 'all virtual hosts'),
    h('section', { class: 'panel' }, list.el),
    h('details', { class: 'panel section' }, h('summary', null, 'Add an exchange'), form));
  await list.load();
  ctx.every(5000, list.refresh);
}

export async function exchangePage(main, { vhost, name }, ctx) {
  const isDefault = name === 'amq.default' || name === '';
  const path = `/api/exchanges/${enc(vhost)}/${enc(isDefault ? 'amq.default' : name)}`;
  let x;
  try {
    x = await get(path);
  } catch (e) {
    if (e.status === 404) {
      clear(main, pageHead(name, h('a', { href: '#/exchanges' }, 'Exchanges')),
        empty('This exchange does not exist', `There is no exchange “${name}” in vhost “${vhost}”.`));
      return;
    }
    throw e;
  }
  const source = h('div');
  const dest = h('div');
  const refresh = async () => {
    try {
      const [s, d] = await Promise.all([get(`${path}/bindings/source`), get(`${path}/bindings/destination`)]);
      clear(source, bindingsTable(vhost, s, refresh, 'source'));
      clear(dest, bindingsTable(vhost, d, refresh, 'destination'));
    } catch (e) {
      clear(source, errorBox(e));
    }
  };
  const builtin = isDefault || x.name.startsWith('amq.');
  const ms = x.message_stats || {};
  clear(main,
    pageHead(exchangeLabel(x.name), [h('a', { href: '#/exchanges' }, 'Exchanges'), ` · vhost ${vhostLabel(vhost)}`],
      h('span', { class: 'tag' }, x.type), features(x)),
    h('div', { class: 'grid two' },
      panel('Details', kv([
        ['Virtual host', vhostLabel(x.vhost)],
        ['Type', x.type],
        ['Durable', yesNo(x.durable)],
        ['Auto-delete', yesNo(x.auto_delete)],
        ['Internal', yesNo(x.internal)],
        ['Arguments', args(x.arguments)],
        ['Published in', ms.publish_in_details ? rate(ms.publish_in_details.rate) : `${num(ms.publish_in || 0)} since start`],
        ['Unroutable', num(ms.drop_unroutable || 0)],
      ])),
      panel('Publish a message', publishForm(vhost, isDefault ? '' : x.name, '', refresh))),
    panel('Bindings from this exchange', isDefault
      ? h('p', { class: 'hint' }, 'The default exchange routes to the queue named by the routing key; it cannot be bound.')
      : [source, addBindingForm(vhost, { exchange: x.name }, refresh)]),
    panel('Bindings to this exchange', dest),
    builtin ? null : panel('Delete', h('button', {
      class: 'danger',
      onclick: async (ev) => {
        if (!(await confirmDialog('Delete exchange', `Delete exchange “${x.name}” and its bindings?`))) return;
        await busy(ev.target, async () => {
          await del(path);
          toast(`Exchange ${x.name} deleted`);
          location.hash = '#/exchanges';
        });
      },
    }, 'Delete exchange')));
  await refresh();
}
