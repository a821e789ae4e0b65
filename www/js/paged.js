// A server-paged, searchable, sortable table over one of the API's list endpoints, using
// RabbitMQ's paging parameters (page, page_size, name, use_regex, sort, sort_reverse,
// pagination=true) and its paged reply {items, page, page_count, filtered_count, total_count}.
// Only one page of rows ever reaches the browser, so a broker with 10,000 queues lists as fast
// as one with ten. The search, page and sort live in the URL's hash (bookmarkable).
//
//   const t = pagedTable({base: '/api/queues', columns, noun: 'queue', query, onQuery});
//   panel.append(t.el); t.load();

import { get } from './api.js';
import { h, clear, num, empty, errorBox } from './ui.js';

export function pagedTable({ base, columns, noun, query, onQuery, pageSize = 100, emptyHint, toolbar = [] }) {
  const st = {
    page: Number(query.get('page')) || 1,
    name: query.get('name') || '',
    regex: query.get('regex') === '1',
    sort: query.get('sort') || '',
    rev: query.get('rev') === '1',
  };
  let seq = 0;
  let typing = null;

  const search = h('input', {
    type: 'search', class: 'search', placeholder: `Filter ${noun}s by name…`, value: st.name,
    'aria-label': `Filter ${noun}s`,
    oninput: () => {
      clearTimeout(typing);
      typing = setTimeout(() => { st.name = search.value; st.page = 1; load(); }, 250);
    },
  });
  const regex = h('input', { type: 'checkbox', checked: st.regex, onchange: () => { st.regex = regex.checked; st.page = 1; load(); } });
  const summary = h('span', { class: 'muted' });
  const body = h('div', null, h('div', { class: 'loading' }, 'Loading…'));
  const pager = h('div', { class: 'pager' });
  const el = h('div', null,
    h('div', { class: 'toolbar' }, search, h('label', { class: 'check' }, regex, 'Regex'), summary,
      h('div', { class: 'spacer' }), ...toolbar),
    body, pager);

  function saveQuery() {
    const q = new URLSearchParams();
    if (st.name) q.set('name', st.name);
    if (st.regex) q.set('regex', '1');
    if (st.page > 1) q.set('page', st.page);
    if (st.sort) q.set('sort', st.sort);
    if (st.rev) q.set('rev', '1');
    if (onQuery) onQuery(q);
  }

  function header(c) {
    const cls = [c.num ? 'num' : '', c.sort ? 'sortable' : '', c.sort && c.sort === st.sort ? 'sorted' : '',
      c.sort === st.sort && st.rev ? 'rev' : ''].join(' ').trim();
    return h('th', {
      class: cls || null,
      title: c.sort ? 'Sort' : null,
      onclick: c.sort ? () => {
        if (st.sort === c.sort) st.rev = !st.rev;
        else { st.sort = c.sort; st.rev = !!c.num; }
        st.page = 1;
        load();
      } : null,
    }, c.label);
  }

  async function load() {
    const my = ++seq;
    saveQuery();
    const params = new URLSearchParams({ page: st.page, page_size: pageSize, pagination: 'true' });
    if (st.name) {
      params.set('name', st.name);
      params.set('use_regex', st.regex ? 'true' : 'false');
    }
    if (st.sort) {
      params.set('sort', st.sort);
      params.set('sort_reverse', st.rev ? 'true' : 'false');
    }
    let res;
    try {
      res = await get(`${typeof base === 'function' ? base() : base}?${params}`);
    } catch (e) {
      if (my !== seq) return;
      // A page past the end (objects deleted meanwhile): go back to the first.
      if (e.error === 'page_out_of_range' && st.page > 1) { st.page = 1; load(); return; }
      clear(body, errorBox(e));
      clear(pager);
      return;
    }
    if (my !== seq) return;
    const items = res.items || [];
    summary.textContent = res.filtered_count === res.total_count
      ? `${num(res.total_count)} ${noun}${res.total_count === 1 ? '' : 's'}`
      : `${num(res.filtered_count)} of ${num(res.total_count)} ${noun}s match`;
    if (!items.length) {
      clear(body, st.name
        ? empty(`No ${noun}s match “${st.name}”`, 'Try another filter.')
        : empty(`No ${noun}s yet`, emptyHint || ''));
    } else {
      clear(body, h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, columns.map(header))),
        h('tbody', null, items.map((r) => h('tr', null, columns.map((c) =>
          h('td', { class: c.num ? 'num' : c.actions ? 'actions' : null }, c.cell(r, load)))))))));
    }
    const pages = res.page_count || 1;
    clear(pager, pages > 1 ? [
      h('button', { class: 'small', disabled: st.page <= 1, onclick: () => { st.page--; load(); } }, '‹ Previous'),
      h('span', null, `Page ${num(res.page)} of ${num(pages)}`),
      h('button', { class: 'small', disabled: st.page >= pages, onclick: () => { st.page++; load(); } }, 'Next ›'),
    ] : null);
  }

  // Background refresh: skipped while the user types in the search box.
  function refresh() {
    if (document.activeElement !== search) load();
  }

  return { el, load, refresh };
}
