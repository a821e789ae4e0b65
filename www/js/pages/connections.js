// Connections (with close) and channels: paged lists, refreshed every 5 s.

import { del, enc } from '../api.js';
import { h, clear, num, bytes, timeAgo, toast, busy, confirmDialog, vhostLabel, pageHead } from '../ui.js';
import { pagedTable } from '../paged.js';
import { setQuery } from '../nav.js';

function client(c) {
  const p = c.client_properties || {};
  if (!p.product && !p.connection_name) return h('span', { class: 'muted' }, '–');
  return h('span', { title: [p.product, p.version, p.platform].filter(Boolean).join(' ') },
    p.connection_name ? h('strong', null, p.connection_name, ' ') : null,
    [p.product, p.version].filter(Boolean).join(' '));
}

export async function connectionsPage(main, _params, ctx, query) {
  const vhost = ctx.vhost;
  const list = pagedTable({
    base: vhost ? `/api/vhosts/${enc(vhost)}/connections` : '/api/connections',
    noun: 'connection', query, onQuery: setQuery,
    emptyHint: 'Clients connected over AMQP, STOMP or WebSocket show up here.',
    columns: [
      { label: 'Connection', sort: 'name', cell: (c) => h('span', { class: 'mono' }, c.name) },
      { label: 'Protocol', sort: 'protocol', cell: (c) => [h('span', { class: 'tag' }, c.protocol), c.ssl ? h('span', { class: 'tag ok' }, 'TLS') : null] },
      { label: 'Client', cell: client },
      { label: 'User', sort: 'user', cell: (c) => c.user },
      !vhost && { label: 'Virtual host', sort: 'vhost', cell: (c) => vhostLabel(c.vhost) },
      { label: 'State', cell: (c) => h('span', { class: c.state === 'running' ? 'tag ok' : 'tag warn' }, c.state || '–') },
      { label: 'Channels', num: true, sort: 'channels', cell: (c) => num(c.channels) },
      { label: 'Received', num: true, sort: 'recv_oct', cell: (c) => bytes(c.recv_oct) },
      { label: 'Sent', num: true, sort: 'send_oct', cell: (c) => bytes(c.send_oct) },
      { label: 'Connected', sort: 'connected_at', cell: (c) => h('span', { class: 'nowrap', title: new Date(c.connected_at).toLocaleString() }, timeAgo(c.connected_at)) },
      {
        label: '', actions: true,
        cell: (c, reload) => h('button', {
          class: 'link-danger',
          onclick: async (ev) => {
            if (!(await confirmDialog('Close connection', `Close ${c.name} (user ${c.user})? The client is told "Closed via management plugin".`, 'Close'))) return;
            await busy(ev.target, async () => {
              await del(`/api/connections/${enc(c.name)}`, { headers: { 'X-Reason': 'Closed via management plugin' } });
              toast('Connection closed');
              reload();
            });
          },
        }, 'Close'),
      },
    ].filter(Boolean),
  });
  clear(main, pageHead('Connections', vhost ? `vhost ${vhostLabel(vhost)}` : 'all virtual hosts'), h('section', { class: 'panel' }, list.el));
  await list.load();
  ctx.every(5000, list.refresh);
}

export async function channelsPage(main, _params, ctx, query) {
  const vhost = ctx.vhost;
  const list = pagedTable({
    base: vhost ? `/api/vhosts/${enc(vhost)}/channels` : '/api/channels',
    noun: 'channel', query, onQuery: setQuery,
    emptyHint: 'Each AMQP channel (and each STOMP connection) shows up here.',
    columns: [
      { label: 'Channel', sort: 'name', cell: (c) => h('span', { class: 'mono' }, c.name) },
      { label: 'User', sort: 'user', cell: (c) => c.user },
      !vhost && { label: 'Virtual host', sort: 'vhost', cell: (c) => vhostLabel(c.vhost) },
      { label: 'Mode', cell: (c) => [c.confirm ? h('span', { class: 'tag', title: 'publisher confirms' }, 'confirm') : null,
        c.transactional ? h('span', { class: 'tag', title: 'transactional' }, 'tx') : null] },
      { label: 'State', cell: (c) => h('span', { class: c.state === 'running' ? 'tag ok' : 'tag warn' }, c.state || '–') },
      { label: 'Consumers', num: true, sort: 'consumer_count', cell: (c) => num(c.consumer_count) },
      { label: 'Prefetch', num: true, sort: 'prefetch_count', cell: (c) => (c.prefetch_count ? num(c.prefetch_count) : h('span', { class: 'muted' }, 'unlimited')) },
      { label: 'Unacked', num: true, sort: 'messages_unacknowledged', cell: (c) => num(c.messages_unacknowledged) },
      { label: 'Unconfirmed', num: true, sort: 'messages_unconfirmed', cell: (c) => num(c.messages_unconfirmed) },
      { label: 'Global prefetch', num: true, cell: (c) => (c.global_prefetch_count ? num(c.global_prefetch_count) : h('span', { class: 'muted' }, '–')) },
    ].filter(Boolean),
  });
  clear(main, pageHead('Channels', vhost ? `vhost ${vhostLabel(vhost)}` : 'all virtual hosts'), h('section', { class: 'panel' }, list.el));
  await list.load();
  ctx.every(5000, list.refresh);
}
