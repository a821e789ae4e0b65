// Pieces the queue and exchange pages share: a bindings table with unbind, the add-binding
// form, and the publish form.

import { get, post, del, enc } from '../api.js';
import { h, clear, table, args, empty, toast, busy, confirmDialog, formValues, parseArgs, exchangeLabel } from '../ui.js';
import { link } from '../nav.js';

// `from`: 'queue' (the queue's bindings: show the source) or 'source' / 'destination' (an
// exchange's bindings, showing the other end).
export function bindingsTable(vhost, bindings, refresh, from) {
  const columns = [
    from !== 'source' && {
      label: 'From exchange',
      cell: (b) => h('a', { href: link.exchange(vhost, b.source) }, exchangeLabel(b.source)),
    },
    from !== 'queue' && from !== 'destination' && {
      label: 'To',
      cell: (b) => [h('span', { class: 'tag grey' }, b.destination_type),
        h('a', { href: b.destination_type === 'queue' ? link.queue(vhost, b.destination) : link.exchange(vhost, b.destination) }, b.destination)],
    },
    from === 'destination' && {
      label: 'To',
      cell: (b) => h('a', { href: link.exchange(vhost, b.destination) }, b.destination),
    },
    { label: 'Routing key', cell: (b) => (b.routing_key === '' ? h('span', { class: 'muted' }, '(empty)') : h('span', { class: 'mono' }, b.routing_key)) },
    { label: 'Arguments', cell: (b) => args(b.arguments) },
    {
      label: '', actions: true,
      cell: (b) => (b.source === ''
        ? h('span', { class: 'hint' }, 'implicit')
        : h('button', {
          class: 'link-danger',
          onclick: async (ev) => {
            const what = `${exchangeLabel(b.source)} → ${b.destination}${b.routing_key ? ` (${b.routing_key})` : ''}`;
            if (!(await confirmDialog('Remove binding', `Unbind ${what}?`, 'Unbind'))) return;
            await busy(ev.target, async () => {
              const kind = b.destination_type === 'queue' ? 'q' : 'e';
              await del(`/api/bindings/${enc(vhost)}/e/${enc(b.source)}/${kind}/${enc(b.destination)}/${enc(b.properties_key)}`);
              toast('Binding removed');
              refresh();
            });
          },
        }, 'Unbind')),
    },
  ].filter(Boolean);
  return table(columns, bindings, empty('No bindings', from === 'source' ? 'Nothing receives what this exchange routes.' : ''));
}

// A datalist of the vhost's exchange or queue names, for the binding form's free-text input.
async function names(vhost, kind) {
  try {
    const list = await get(`/api/${kind}/${enc(vhost)}?columns=name&page=1&page_size=500&pagination=true`);
    return list.items.map((x) => x.name).filter((n) => n !== '');
  } catch {
    return [];
  }
}

// {queue: name} binds some exchange to the queue; {exchange: name} binds the exchange to a
// queue or exchange.
export function addBindingForm(vhost, target, refresh) {
  const id = `dl-${Math.random().toString(36).slice(2)}`;
  const datalist = h('datalist', { id });
  const form = h('form', { class: 'form add-binding' },
    target.queue !== undefined
      ? h('label', null, 'From exchange', h('input', { name: 'other', required: true, list: id, placeholder: 'amq.direct', autocomplete: 'off' }))
      : [h('label', null, 'Destination type', h('select', { name: 'kind' }, h('option', { value: 'q' }, 'Queue'), h('option', { value: 'e' }, 'Exchange'))),
        h('label', null, 'Destination', h('input', { name: 'other', required: true, list: id, autocomplete: 'off' }))],
    h('label', null, 'Routing key', h('input', { name: 'routing_key', autocomplete: 'off' })),
    h('label', null, 'Arguments', h('input', { name: 'arguments', placeholder: 'x-match=all, format=pdf', autocomplete: 'off' })),
    datalist,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Bind')));
  const fill = async (kind) => clear(datalist, (await names(vhost, kind)).map((n) => h('option', { value: n })));
  fill(target.queue !== undefined ? 'exchanges' : 'queues');
  const kindSel = form.querySelector('[name=kind]');
  if (kindSel) kindSel.addEventListener('change', () => fill(kindSel.value === 'q' ? 'queues' : 'exchanges'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    await busy(form.querySelector('button'), async () => {
      const a = parseArgs(v.arguments);
      const url = target.queue !== undefined
        ? `/api/bindings/${enc(vhost)}/e/${enc(v.other)}/q/${enc(target.queue)}`
        : `/api/bindings/${enc(vhost)}/e/${enc(target.exchange)}/${v.kind}/${enc(v.other)}`;
      await post(url, { routing_key: v.routing_key, arguments: a });
      toast('Binding added');
      form.reset();
      refresh();
    });
  });
  return h('div', null, h('h3', { class: 'subhead' }, 'Add a binding'), form);
}

// Publishes through `exchange` ("" = the default exchange, amq.default in paths).
export function publishForm(vhost, exchange, routingKey, done, { fixedKey = false } = {}) {
  const form = h('form', { class: 'form publish' },
    h('label', null, 'Routing key', h('input', { name: 'routing_key', value: routingKey, readonly: fixedKey, autocomplete: 'off' })),
    h('label', null, 'Delivery mode', h('select', { name: 'delivery_mode' },
      h('option', { value: '2' }, 'Persistent'), h('option', { value: '1' }, 'Transient'))),
    h('label', null, 'Content type', h('input', { name: 'content_type', placeholder: 'text/plain', autocomplete: 'off' })),
    h('label', null, 'Headers', h('input', { name: 'headers', placeholder: 'key=value, other=1', autocomplete: 'off' })),
    h('label', { class: 'wide' }, 'Payload', h('textarea', { name: 'payload', rows: 4, placeholder: 'Hello, Warren' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Publish message')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = formValues(form);
    await busy(form.querySelector('button[type=submit]'), async () => {
      const properties = { delivery_mode: Number(v.delivery_mode) };
      if (v.content_type) properties.content_type = v.content_type;
      const headers = parseArgs(v.headers);
      if (Object.keys(headers).length) properties.headers = headers;
      const res = await post(`/api/exchanges/${enc(vhost)}/${enc(exchange === '' ? 'amq.default' : exchange)}/publish`, {
        routing_key: v.routing_key, properties, payload: v.payload, payload_encoding: 'string',
      });
      if (res && res.routed === false) toast('Published, but no queue was bound to receive it (unroutable)', 'error');
      else toast('Message published');
      form.querySelector('[name=payload]').value = '';
      if (done) done();
    });
  });
  return form;
}
