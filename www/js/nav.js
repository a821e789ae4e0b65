// Links and the hash's query string: #/queues/%2F/orders, #/queues?name=ord&page=2.

import { enc } from './api.js';

export const link = {
  queue: (vhost, name) => `#/queues/${enc(vhost)}/${enc(name)}`,
  exchange: (vhost, name) => `#/exchanges/${enc(vhost)}/${enc(name === '' ? 'amq.default' : name)}`,
};

// "#/queues?name=x&page=2" -> {path: "queues", query: URLSearchParams}
export function hashState() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  return { path: q < 0 ? raw : raw.slice(0, q), query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)) };
}

// Updates the hash's query without re-rendering (search boxes, paging, sorting).
export function setQuery(query) {
  const { path } = hashState();
  const qs = query.toString();
  history.replaceState(null, '', `#/${path}${qs ? `?${qs}` : ''}`);
}
