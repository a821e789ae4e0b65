// The background poller: /api/overview every 5 s (kept as a 10-minute history for the
// overview's charts, whatever page is shown) and the node's alarms (/api/nodes for monitoring
// and administrator users, /api/health/checks/alarms for the others), shown as banners on every
// page. Message rates come from the API's *_details.rate when it has them, else from the
// difference between two polls' counters.

import { get, isMonitor, ApiError } from './api.js';
import { h, clear } from './ui.js';

export const POLL_MS = 5000;
const HISTORY_MS = 10 * 60 * 1000;

export const state = {
  overview: null, // the last /api/overview
  node: null, // the last /api/nodes entry (monitoring users)
  error: null, // the last poll's error
  history: [], // [{t, publish, deliver, ack, messages, ready, unacked}]
};

const listeners = new Set();
export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

let timer = null;
let previous = null; // {t, counters} of the last poll, for client-side rates

const RATES = [
  ['publish', 'publish'],
  ['deliver', 'deliver_get'],
  ['ack', 'ack'],
];

function rates(ov, t) {
  const ms = ov.message_stats || {};
  const out = {};
  const counters = {};
  for (const [key, field] of RATES) {
    counters[key] = Number(ms[field]) || 0;
    const details = ms[`${field}_details`];
    if (details && typeof details.rate === 'number') {
      out[key] = details.rate;
    } else if (previous && t > previous.t) {
      // A counter that went down (a restart) gives no rate for this interval.
      out[key] = Math.max(0, (counters[key] - previous.counters[key]) / ((t - previous.t) / 1000));
    } else {
      out[key] = 0;
    }
  }
  previous = { t, counters };
  return out;
}

async function pollOnce() {
  const t = Date.now();
  try {
    const ov = await get('/api/overview');
    const qt = ov.queue_totals || {};
    state.overview = ov;
    state.error = null;
    state.history.push({
      t,
      ...rates(ov, t),
      messages: Number(qt.messages) || 0,
      ready: Number(qt.messages_ready) || 0,
      unacked: Number(qt.messages_unacknowledged) || 0,
    });
    while (state.history.length && state.history[0].t < t - HISTORY_MS) state.history.shift();
  } catch (e) {
    state.error = e;
  }
  await pollAlarms();
  for (const fn of listeners) fn(state);
}

async function pollAlarms() {
  const alarms = [];
  if (isMonitor()) {
    try {
      const nodes = await get('/api/nodes');
      state.node = nodes[0] || null;
      for (const n of nodes) {
        if (n.mem_alarm) alarms.push(`Memory alarm on ${n.name}: publishers are blocked until memory use falls below the high watermark.`);
        if (n.disk_free_alarm) alarms.push(`Disk alarm on ${n.name}: free disk space is below the limit (or the store cannot write); publishers are blocked.`);
      }
    } catch {
      /* the overview's error says enough */
    }
  } else {
    try {
      await get('/api/health/checks/alarms');
    } catch (e) {
      if (e instanceof ApiError && e.status === 503) alarms.push('A resource alarm is in effect: publishers are blocked.');
    }
  }
  const box = document.getElementById('alarms');
  clear(box, alarms.map((a) => h('div', { class: 'alarm' }, a)),
    state.error && state.error.status === 0 ? h('div', { class: 'alarm warn' }, state.error.reason) : null);
}

export function start() {
  stop();
  previous = null;
  state.history = [];
  pollOnce();
  timer = setInterval(pollOnce, POLL_MS);
}

export function stop() {
  if (timer) clearInterval(timer);
  timer = null;
}

export const refresh = pollOnce;
