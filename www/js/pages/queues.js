// Queues: the paged list with search and the add-queue form; a queue's page with its numbers,
// consumers, bindings, get and publish, purge and delete.

import { get, put, post, del, enc } from '../api.js';
import {
  h, clear, num, rate, bytes, stat, panel, kv, table, args, yesNo, empty, errorBox,
  toast, busy, confirmDialog, formValues, parseArgs, vhostLabel, exchangeLabel, pageHead,
} from '../ui.js';
import { pagedTable } from '../paged.js';
import { link, setQuery } from '../nav.js';
import { bindingsTable, addBindingForm, publishForm } from './shared.js';

function features(q) {
  const out = [];
  if (q.durable) out.push(h('span', { class: 'tag grey', title: 'durable' }, 'D'));
  if (q.auto_delete) out.push(h('span', { class: 'tag grey', title: 'auto-delete' }, 'AD'));
  if (q.exclusive) out.push(h('span', { class: 'tag grey', title: 'exclusive' }, 'Excl'));
  for (const k of Object.keys(q.arguments || {})) {
    const short = k.replace(/^x-/, '');
    out.push(h('span', { class: 'tag', title: `${k} = ${JSON.stringify(q.arguments[k])}` }, short));
  }
  if (q.policy) out.push(h('span', { class: 'tag warn', title: 'policy' }, q.policy));
  return out.length ? out : h('span', { class: 'muted' }, '–');
}

// A rate when the API samples it, else the total since start.
function statCell(q, field) {
  const ms = q.message_stats || {};
  const d = ms[`${field}_details`];
  if (d && typeof d.rate === 'number') return rate(d.rate);
  return h('span', { title: 'total since start' }, num(ms[field] || 0));
}

export async function queuesPage(main, _params, ctx, query) {
  const vhost = ctx.vhost;
  const columns = [
    { label: 'Name', sort: 'name', cell: (q) => h('a', { class: 'name', href: link.queue(q.vhost, q.name) }, q.name) },
    !vhost && { label: 'Virtual host', sort: 'vhost', cell: (q) => q.vhost },
    { label: 'Features', cell: features },
    { label: 'State', cell: (q) => h('span', { class: q.state === 'running' ? 'tag ok' : 'tag warn' }, q.state || '–') },
    { label: 'Ready', num: true, sort: 'messages_ready', cell: (q) => num(q.messages_ready) },
    { label: 'Unacked', num: true, sort: 'messages_unacknowledged', cell: (q) => num(q.messages_unacknowledged) },
    { label: 'Total', num: true, sort: 'messages', cell: (q) => num(q.messages) },
    { label: 'Consumers', num: true, sort: 'consumers', cell: (q) => num(q.consumers) },
    { label: 'Published', num: true, sort: 'message_stats.publish', cell: (q) => statCell(q, 'publish') },
    { label: 'Delivered', num: true, sort: 'message_stats.deliver_get', cell: (q) => statCell(q, 'deliver_get') },
    { label: 'Memory', num: true, sort: 'memory', cell: (q) => bytes(q.memory) },
  ].filter(Boolean);
  const list = pagedTable({
    base: vhost ? `/api/queues/${enc(vhost)}` : '/api/queues',
    columns, noun: 'queue', query, onQuery: setQuery,
    emptyHint: 'Add one below, or declare one from a client.',
  });
  const form = await addQueueForm(vhost, () => list.load());
  clear(main,
    pageHead('Queues', vhost ? `vhost ${vhostLabel(vhost)}` : 'all virtual hosts'),
    h('section', { class: 'panel' }, list.el),
    form);
  await list.load();
  ctx.every(5000, list.refresh);
}

async function vhostSelect(selected) {
  let names = ['/'];
  try {
    names = (await get('/api/vhosts?columns=name')).map((v) => v.name);
  } catch {
    /* a user without vhost listing still has "/" to try */
  }
  return h('select', { name: 'vhost' }, names.map((n) => h('option', { value: n, selected: n === (selected || '/') }, n)));
}

async function addQueueForm(vhost, done) {
  const error = h('p', { class: 'form-error', hidden: true });
  const form = h('form', { class: 'form', id: 'add-queue' },
    h('label', null, 'Virtual host', await vhostSelect(vhost)),
    h('label', null, 'Name', h('input', { name: 'name', required: true, placeholder: 'orders', autocomplete: 'off' })),
    h('label', null, 'Type', h('select', { name: 'type' },
      h('option', { value: 'classic' }, 'Classic'))),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'durable', checked: true }), 'Durable'),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'auto_delete' }), 'Auto-delete'),
    h('label', { class: 'wide' }, 'Arguments',
      h('textarea', { name: 'arguments', rows: 3, placeholder: 'x-message-ttl=60000\nx-max-length=10000\nx-dead-letter-exchange=dlx' }),
      h('span', { class: 'hint' }, 'One key=value a line (numbers and true/false are typed), or a JSON object.')),
    error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Add queue')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    error.hidden = true;
    let a;
    try {
      a = parseArgs(v.arguments);
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      return;
    }
    await busy(form.querySelector('button[type=submit]'), async () => {
      try {
        await put(`/api/queues/${enc(v.vhost)}/${enc(v.name)}`, { durable: v.durable, auto_delete: v.auto_delete, arguments: a });
      } catch (e) {
        error.textContent = e.reason || e.message;
        error.hidden = false;
        return;
      }
      toast(`Queue ${v.name} added`);
      form.querySelector('[name=name]').value = '';
      done();
    });
  });
  return h('details', { class: 'panel section', open: true }, h('summary', null, 'Add a queue'), form);
}

// One queue.

export async function queuePage(main, { vhost, name }, ctx) {
  const path = `/api/queues/${enc(vhost)}/${enc(name)}`;
  let q;
  try {
    q = await get(path);
  } catch (e) {
    if (e.status === 404) {
      clear(main, pageHead(name, h('a', { href: '#/queues' }, 'Queues')),
        empty('This queue does not exist', `There is no queue “${name}” in vhost “${vhost}” (deleted?).`));
      return;
    }
    throw e;
  }
  const numbers = h('div', { class: 'stats' });
  const details = h('div');
  const consumers = h('div');
  const bindings = h('div');
  const refreshBindings = async () => {
    try {
      const list = await get(`${path}/bindings`);
      clear(bindings, bindingsTable(vhost, list, refreshBindings, 'queue'));
    } catch (e) {
      clear(bindings, errorBox(e));
    }
  };

  function show(qq) {
    q = qq;
    const ms = q.message_stats || {};
    clear(numbers,
      stat('Total', num(q.messages)),
      stat('Ready', num(q.messages_ready), bytes(q.message_bytes_ready)),
      stat('Unacked', num(q.messages_unacknowledged)),
      stat('Consumers', num(q.consumers)),
      stat('Published', ms.publish_details ? rate(ms.publish_details.rate) : num(ms.publish || 0), ms.publish_details ? `${num(ms.publish)} in total` : 'since start'),
      stat('Delivered', ms.deliver_get_details ? rate(ms.deliver_get_details.rate) : num(ms.deliver_get || 0), ms.deliver_get_details ? `${num(ms.deliver_get)} in total` : 'since start'),
      stat('Acked', num(ms.ack || 0), 'since start'),
      stat('Memory', bytes(q.memory), q.messages_paged_out ? `${num(q.messages_paged_out)} paged out` : null));
    clear(details, kv([
      ['Virtual host', vhostLabel(q.vhost)],
      ['Type', q.type || 'classic'],
      ['State', h('span', { class: q.state === 'running' ? 'tag ok' : 'tag warn' }, q.state || '–')],
      ['Durable', yesNo(q.durable)],
      ['Auto-delete', yesNo(q.auto_delete)],
      ['Exclusive', yesNo(q.exclusive)],
      ['Policy', q.policy ? h('span', { class: 'tag warn' }, q.policy) : h('span', { class: 'muted' }, '–')],
      ['Arguments', args(q.arguments)],
      ['Node', q.node],
    ]));
    clear(consumers, table([
      { label: 'Consumer tag', cell: (c) => h('span', { class: 'mono' }, c.consumer_tag) },
      { label: 'Channel', cell: (c) => (c.channel_details && c.channel_details.name) || '–' },
      { label: 'Ack required', cell: (c) => yesNo(c.ack_required) },
      { label: 'Exclusive', cell: (c) => yesNo(c.exclusive) },
      { label: 'Prefetch', num: true, cell: (c) => num(c.prefetch_count) },
      { label: 'Arguments', cell: (c) => args(c.arguments) },
    ], q.consumer_details || [], empty('No consumers', 'Messages wait here until a client subscribes.')));
  }
  show(q);

  const getResult = h('div');
  const getForm = h('form', { class: 'form', id: 'get-messages' },
    h('label', null, 'Ack mode', h('select', { name: 'ackmode' },
      h('option', { value: 'ack_requeue_true' }, 'Nack, requeue (peek)'),
      h('option', { value: 'ack_requeue_false' }, 'Ack (remove from queue)'),
      h('option', { value: 'reject_requeue_true' }, 'Reject, requeue'),
      h('option', { value: 'reject_requeue_false' }, 'Reject, no requeue (dead-letter)'))),
    h('label', null, 'Encoding', h('select', { name: 'encoding' },
      h('option', { value: 'auto' }, 'Auto: text, or base64 if binary'),
      h('option', { value: 'base64' }, 'Base64'))),
    h('label', null, 'Messages', h('input', { name: 'count', type: 'number', min: 1, max: 1000, value: 1 })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Get messages')));
  getForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = formValues(getForm);
    await busy(getForm.querySelector('button'), async () => {
      const msgs = await post(`${path}/get`, { count: Number(v.count) || 1, ackmode: v.ackmode, encoding: v.encoding, truncate: 50000 });
      clear(getResult, msgs.length ? msgs.map(messageCard) : h('div', { class: 'info-box' }, 'The queue is empty.'));
      reload();
    });
  });

  const publish = publishForm(vhost, '', name, () => reload(), { fixedKey: true });

  const danger = h('div', { class: 'toolbar' },
    h('button', { id: 'purge-queue', onclick: async (ev) => {
      if (!(await confirmDialog('Purge queue', `Remove all ${num(q.messages_ready)} ready messages from “${name}”?`, 'Purge'))) return;
      await busy(ev.target, async () => {
        await del(`${path}/contents`);
        toast(`Queue ${name} purged`);
        reload();
      });
    } }, 'Purge messages'),
    h('button', { class: 'danger', id: 'delete-queue', onclick: async (ev) => {
      if (!(await confirmDialog('Delete queue', `Delete “${name}” and its ${num(q.messages)} messages? Clients consuming from it are cancelled.`))) return;
      await busy(ev.target, async () => {
        await del(path);
        toast(`Queue ${name} deleted`);
        location.hash = '#/queues';
      });
    } }, 'Delete queue'));

  clear(main,
    pageHead(name, [h('a', { href: '#/queues' }, 'Queues'), ` · vhost ${vhostLabel(vhost)}`], features(q)),
    numbers,
    h('div', { class: 'grid two' },
      panel('Get messages', getForm, getResult),
      panel('Publish a message', h('p', { class: 'hint' }, 'Through the default exchange with routing key “', name, '”, so it lands in this queue.'), publish)),
    h('div', { class: 'grid two' },
      panel('Details', details),
      panel('Consumers', consumers)),
    panel('Bindings', bindings, addBindingForm(vhost, { queue: name }, refreshBindings)),
    panel('Delete or purge', danger));
  await refreshBindings();

  async function reload() {
    try {
      show(await get(path));
    } catch (e) {
      if (e.status === 404 && ctx.alive) location.hash = '#/queues';
    }
  }
  ctx.every(5000, reload);
}

function messageCard(m, i) {
  const props = m.properties || {};
  const headers = props.headers || {};
  const rest = Object.fromEntries(Object.entries(props).filter(([k]) => k !== 'headers'));
  return h('div', { class: 'message' },
    h('div', { class: 'message-head' },
      h('strong', null, `Message ${i + 1}`),
      h('span', null, 'exchange ', h('span', { class: 'mono' }, exchangeLabel(m.exchange))),
      h('span', null, 'routing key ', h('span', { class: 'mono' }, m.routing_key)),
      m.redelivered ? h('span', { class: 'tag warn' }, 'redelivered') : null,
      h('span', null, `${num(m.payload_bytes)} bytes, ${m.payload_encoding}`),
      h('span', null, `${num(m.message_count)} left in queue`)),
    Object.keys(rest).length ? h('div', { class: 'message-head' }, 'properties ', args(rest)) : null,
    Object.keys(headers).length ? h('div', { class: 'message-head' }, 'headers ', args(headers)) : null,
    h('pre', { class: 'payload' }, m.payload));
}
