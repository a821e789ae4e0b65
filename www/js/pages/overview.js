// Overview: live message-rate and queued-message charts (from the background poller's
// history), totals, the node and its listeners.

import { h, clear, num, rate, bytes, duration, stat, panel, kv, table, errorBox } from '../ui.js';
import { LineChart } from '../chart.js';
import * as stats from '../stats.js';

const BLUE = '#3b5bdb';
const GREEN = '#2f9e44';
const ORANGE = '#f08c00';
const GREY = '#868e96';

export async function overviewPage(main, _params, ctx) {
  const rateChart = new LineChart([
    { label: 'Publish', color: BLUE },
    { label: 'Deliver / get', color: GREEN },
    { label: 'Ack', color: ORANGE },
  ], { format: rate });
  const depthChart = new LineChart([
    { label: 'Ready', color: BLUE },
    { label: 'Unacked', color: ORANGE },
    { label: 'Total', color: GREY },
  ], { format: num, integer: true });
  ctx.onLeave(() => { rateChart.destroy(); depthChart.destroy(); });

  const totals = h('div', { class: 'stats' });
  const node = h('div', null, h('div', { class: 'loading' }, 'Loading…'));
  const listeners = h('div');
  const problem = h('div');

  clear(main,
    h('div', { class: 'page-head' }, h('h1', null, 'Overview'), h('div', { class: 'spacer' }),
      h('span', { class: 'muted' }, `Updated every ${stats.POLL_MS / 1000} s`)),
    problem,
    totals,
    h('div', { class: 'grid two' },
      panel('Message rates', rateChart.el),
      panel('Queued messages', depthChart.el)),
    h('div', { class: 'grid two', id: 'overview-node' },
      panel('Node', node),
      panel('Listeners', listeners)));

  function update(st) {
    if (!ctx.alive) return;
    clear(problem, st.error ? errorBox(st.error) : null);
    const ov = st.overview;
    if (!ov) return;
    const hist = st.history;
    rateChart.set(hist.map((p) => ({ t: p.t, v: [p.publish, p.deliver, p.ack] })));
    depthChart.set(hist.map((p) => ({ t: p.t, v: [p.ready, p.unacked, p.messages] })));
    const qt = ov.queue_totals || {};
    const ot = ov.object_totals || {};
    const last = hist[hist.length - 1] || {};
    clear(totals,
      stat('Messages', num(qt.messages), `${num(qt.messages_ready)} ready · ${num(qt.messages_unacknowledged)} unacked`),
      stat('Publish rate', rate(last.publish), `${num((ov.message_stats || {}).publish)} in total`),
      stat('Deliver rate', rate(last.deliver), `${num((ov.message_stats || {}).deliver_get)} in total`),
      stat('Queues', num(ot.queues), null, '#/queues'),
      stat('Exchanges', num(ot.exchanges), null, '#/exchanges'),
      stat('Connections', num(ot.connections), null, '#/connections'),
      stat('Channels', num(ot.channels), null, '#/channels'),
      stat('Consumers', num(ot.consumers)));
    const n = st.node;
    clear(node, kv([
      ['Name', ov.node],
      ['Version', `${ov.product_name || 'Warren'} ${ov.product_version || ''}`],
      ['API', `RabbitMQ management ${ov.management_version}`],
      n && ['Uptime', duration(n.uptime)],
      n && ['Memory', `${bytes(n.mem_used)}${n.mem_limit ? ` of ${bytes(n.mem_limit)}` : ''}`],
      n && n.disk_free !== undefined && ['Disk free', bytes(n.disk_free)],
      n && ['File descriptors', `${num(n.fd_used)} of ${num(n.fd_total)}`],
      n && ['Processors', num(n.processors)],
      n && ['Alarms', n.mem_alarm || n.disk_free_alarm
        ? h('span', { class: 'tag danger' }, [n.mem_alarm && 'memory', n.disk_free_alarm && 'disk'].filter(Boolean).join(', '))
        : h('span', { class: 'tag ok' }, 'none')],
    ]));
    clear(listeners, table([
      { label: 'Protocol', cell: (l) => h('span', { class: 'tag' }, l.protocol) },
      { label: 'Address', cell: (l) => h('span', { class: 'mono' }, l.ip_address) },
      { label: 'Port', num: true, cell: (l) => String(l.port) },
    ], ov.listeners || []));
  }

  update(stats.state);
  ctx.onLeave(stats.subscribe(update));
}
