// DOM building and formatting shared by the pages. Everything is built with h(): text always
// goes in as text nodes, never as HTML, so names from the broker cannot inject markup.

// h('a', {href: '#/x', class: 'name'}, 'text', child, [more]) -> element. Attributes starting
// with "on" become listeners; null/false children and attributes are skipped.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (k === 'value') {
        el.value = v;
        if ('defaultValue' in el) el.defaultValue = v; // form.reset() goes back to it
      } else if (k === 'checked') el.checked = el.defaultChecked = !!v;
      else if (k === 'selected') el.selected = el.defaultSelected = !!v;
      else if (k === 'disabled' || k === 'hidden') el[k] = !!v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Numbers

const intFmt = new Intl.NumberFormat('en-US');
export function num(n) {
  if (n === null || n === undefined || n === '') return '–';
  const v = Number(n);
  return Number.isFinite(v) ? intFmt.format(v) : String(n);
}

export function rate(r) {
  const v = Number(r) || 0;
  if (v === 0) return '0/s';
  if (v < 10) return `${v.toFixed(1)}/s`;
  return `${intFmt.format(Math.round(v))}/s`;
}

// Compact axis labels: 1.2k, 3.4M.
export function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  if (a > 0 && a < 10 && !Number.isInteger(v)) return v.toFixed(1);
  return String(Math.round(v));
}

export function bytes(n) {
  if (n === null || n === undefined) return '–';
  let v = Number(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(ms) {
  let s = Math.floor((Number(ms) || 0) / 1000);
  const d = Math.floor(s / 86400);
  s %= 86400;
  const hr = Math.floor(s / 3600);
  s %= 3600;
  const m = Math.floor(s / 60);
  s %= 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

export function timeAgo(ms) {
  if (!ms) return '–';
  return `${duration(Date.now() - Number(ms))} ago`;
}

export const vhostLabel = (v) => (v === '/' ? '/ (default)' : v);
export const exchangeLabel = (n) => (n === '' ? '(AMQP default)' : n);

export function tags(list, cls = '') {
  const arr = Array.isArray(list) ? list : String(list || '').split(',').filter(Boolean);
  if (!arr.length) return h('span', { class: 'muted' }, '–');
  return arr.map((t) => h('span', { class: `tag ${cls}` }, t));
}

export function yesNo(b) {
  return b ? h('span', { class: 'tag ok' }, 'yes') : h('span', { class: 'muted' }, 'no');
}

export function args(obj) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return h('span', { class: 'muted' }, '–');
  return entries.map(([k, v]) =>
    h('span', { class: 'tag grey mono' }, `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`));
}

// Feedback

export function toast(text, kind = '') {
  const t = h('div', { class: `toast ${kind}` }, text);
  document.getElementById('toasts').appendChild(t);
  setTimeout(() => t.remove(), kind === 'error' ? 7000 : 3500);
}

export function errorText(e) {
  if (e && e.status !== undefined) {
    const head = e.error && e.error !== e.reason ? `${e.error}: ` : '';
    return `${head}${e.reason || e.message}`;
  }
  return String((e && e.message) || e);
}

export function toastError(e) {
  toast(errorText(e), 'error');
}

// A modal confirmation (the native <dialog>); resolves to true when confirmed.
export function confirmDialog(title, text, okLabel = 'Delete') {
  const d = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
  });
}

// Runs an async action from a button: disables it meanwhile, toasts the API's error.
export async function busy(button, fn) {
  if (button) button.disabled = true;
  try {
    return await fn();
  } catch (e) {
    toastError(e);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// Layout pieces

export function pageHead(title, crumbs, ...right) {
  return h('div', { class: 'page-head' },
    h('div', null, crumbs ? h('div', { class: 'crumbs' }, crumbs) : null, h('h1', null, title)),
    h('div', { class: 'spacer' }), ...right);
}

export function panel(title, ...children) {
  return h('section', { class: 'panel' }, title ? h('h2', null, title) : null, ...children);
}

export function stat(label, value, sub, href) {
  return h('div', { class: 'stat' },
    h('div', { class: 'label' }, label),
    href ? h('a', { class: 'value', href }, value) : h('div', { class: 'value' }, value),
    sub ? h('div', { class: 'sub' }, sub) : null);
}

export function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

export function empty(title, text) {
  return h('div', { class: 'empty' }, h('strong', null, title), text || '');
}

export function errorBox(e) {
  return h('div', { class: 'error-box' }, errorText(e));
}

// A simple (not paged) table: columns [{label, num, cell(row) -> node|string}].
export function table(columns, rows, emptyNode) {
  if (!rows.length) return emptyNode || empty('Nothing here yet');
  return h('div', { class: 'table-wrap' },
    h('table', null,
      h('thead', null, h('tr', null, columns.map((c) => h('th', { class: c.num ? 'num' : null }, c.label)))),
      h('tbody', null, rows.map((r) => h('tr', null, columns.map((c) =>
        h('td', { class: c.num ? 'num' : c.actions ? 'actions' : null }, c.cell(r))))))));
}

// Reads a form's named fields into an object (checkboxes as booleans).
export function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    out[el.name] = el.type === 'checkbox' ? el.checked : el.value;
  }
  return out;
}

// "a=1\nb=x" -> {a: 1, b: "x"}; or a JSON object. Numbers and booleans are typed.
export function parseArgs(text) {
  const t = (text || '').trim();
  if (!t) return {};
  if (t.startsWith('{')) {
    const v = JSON.parse(t);
    if (typeof v !== 'object' || Array.isArray(v)) throw new Error('arguments must be a JSON object');
    return v;
  }
  const out = {};
  for (const line of t.split(/\n|,(?=[^=,]+=)/)) {
    if (!line.trim()) continue;
    const eq = line.indexOf('=');
    if (eq < 1) throw new Error(`"${line.trim()}" is not key=value`);
    const k = line.slice(0, eq).trim();
    const raw = line.slice(eq + 1).trim();
    let v = raw;
    if (/^-?\d+(\.\d+)?$/.test(raw)) v = Number(raw);
    else if (raw === 'true' || raw === 'false') v = raw === 'true';
    out[k] = v;
  }
  return out;
}
