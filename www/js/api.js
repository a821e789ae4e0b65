// The management API client: HTTP basic auth with the credentials kept in sessionStorage (gone
// when the tab closes), JSON in and out, and the API's {"error","reason"} bodies turned into
// ApiError. Every path segment that holds a name goes through enc(): the default vhost "/" is
// "%2F" in a path.

const KEY = 'warren.auth';

export class ApiError extends Error {
  constructor(status, error, reason) {
    super(reason || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
    this.reason = reason;
  }
}

export const enc = (s) => encodeURIComponent(s);

// base64 of "user:password" as UTF-8 (btoa alone only takes Latin-1).
function basic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

export function saveSession(user, password, tags) {
  sessionStorage.setItem(KEY, JSON.stringify({ user, token: basic(user, password), tags }));
}

export function clearSession() {
  sessionStorage.removeItem(KEY);
}

// Called with the ApiError when a request gets 401 with the stored credentials (password
// changed, user deleted): the app goes back to the login form.
let onUnauthorised = () => {};
export function setUnauthorisedHandler(fn) {
  onUnauthorised = fn;
}

// fetch() with credentials 'omit' so a 401 never opens the browser's own login prompt; the
// Authorization header is set explicitly.
export async function request(method, path, body, { token, headers = {}, raw = false } = {}) {
  const s = session();
  const auth = token || (s && s.token);
  const init = { method, headers: { ...headers }, credentials: 'omit', cache: 'no-store' };
  if (auth) init.headers.authorization = `Basic ${auth}`;
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'The broker did not answer (is warrend running?)');
  }
  const text = await res.text();
  if (!res.ok) {
    let error = `HTTP ${res.status}`;
    let reason = res.statusText;
    try {
      const j = JSON.parse(text);
      error = j.error || error;
      reason = j.reason || reason;
    } catch {
      /* not JSON: keep the status line */
    }
    const err = new ApiError(res.status, error, reason);
    // A missing tag is also 401 ("Not administrator user"): only a failed login ends the session.
    if (res.status === 401 && !token && reason === 'Login failed') onUnauthorised(err);
    throw err;
  }
  if (raw) return text;
  return text ? JSON.parse(text) : null;
}

export const get = (path, opts) => request('GET', path, undefined, opts);
export const put = (path, body, opts) => request('PUT', path, body ?? {}, opts);
export const post = (path, body, opts) => request('POST', path, body ?? {}, opts);
export const del = (path, opts) => request('DELETE', path, undefined, opts);

// Logs in: /api/whoami with the given credentials; resolves to {name, tags}.
export async function login(user, password) {
  const me = await request('GET', '/api/whoami', undefined, { token: basic(user, password) });
  const tags = Array.isArray(me.tags) ? me.tags : String(me.tags || '').split(',').filter(Boolean);
  saveSession(user, password, tags);
  return { name: me.name, tags };
}

export function hasTag(...wanted) {
  const s = session();
  return !!s && (s.tags || []).some((t) => wanted.includes(t));
}
export const isAdmin = () => hasTag('administrator');
export const isMonitor = () => hasTag('administrator', 'monitoring');
