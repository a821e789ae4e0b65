// The web management UI in a real browser: headless Chromium (playwright-core) against warrend's
// HTTP listener.
//
//   node ui_browser.js <http_port> <run_id> <alarmed_http_port> [screenshot_dir]
//
// Logs in through the form, sees the overview (totals, charts with samples), creates a queue
// with the add-queue form, publishes a message on the queue's page and gets it back, creates a
// user and deletes it, adds a vhost (with a '/' in its name) and narrows the lists to it, visits
// every page, logs out; a user with only the management tag sees no admin pages and makes no
// request it may not; a wrong password shows the API's reason; a second broker, under a memory
// alarm, shows the alarm as a banner.
// Throughout, any console error, uncaught exception, failed request or HTTP error status fails
// the test.
// With a screenshot directory (WARREN_UI_SCREENSHOTS), saves docs/ui-*.png there.
// Prints one PASS/FAIL line per check; exit 1 on failure.
const fs = require('fs');
const path = require('path');
const os = require('os');
const http = require('http');
const { chromium } = require('playwright-core');

const port = Number(process.argv[2]);
const runId = process.argv[3] || 'x';
const alarmedPort = Number(process.argv[4]);
const shots = process.argv[5] || '';
const base = `http://127.0.0.1:${port}`;
const queue = `ui-${runId}-orders`;
const user = `ui-${runId}-alice`;

// Requests the test makes itself, outside the page (not counted as the page's errors).
function api(method, p, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request(`${base}${p}`, {
      method,
      auth: 'guest:guest',
      headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
    }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

// Every request must succeed (the broker has run-time policies and definitions import).
const tolerated = () => false;

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  const problems = [];
  const results = [];
  const check = async (name, fn) => {
    const before = problems.length;
    try {
      await fn();
      if (problems.length > before) throw new Error(problems.slice(before).join('; '));
      results.push(['PASS', name]);
    } catch (e) {
      results.push(['FAIL', name, String((e && e.message) || e).split('\n')[0]]);
    }
  };
  // Screenshots start at the top of the page, without the toasts of earlier steps.
  const shot = async (page, name, fullPage = false) => {
    if (!shots) return;
    await page.evaluate(() => {
      document.querySelectorAll('.toast').forEach((t) => t.remove());
      window.scrollTo(0, 0);
    });
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(shots, `ui-${name}.png`), fullPage });
  };

  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (process.env.VERBOSE) console.log('page:', m.type(), m.text());
      if (m.type() !== 'error') return;
      const url = (m.location() && m.location().url) || '';
      if (/Failed to load resource/.test(m.text()) && url && tolerated(url, Number((m.text().match(/status of (\d+)/) || [])[1]))) return;
      problems.push(`console error: ${m.text()} ${url}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure() && r.failure().errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400 && !tolerated(r.url(), r.status())) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
    });

    await check('page_served_with_login_form', async () => {
      const res = await page.goto(`${base}/`);
      if (res.status() !== 200) throw new Error(`GET / -> ${res.status()}`);
      if (!/^text\/html/.test(res.headers()['content-type'])) throw new Error(`content-type ${res.headers()['content-type']}`);
      await page.locator('#login-form').waitFor({ state: 'visible', timeout: 5000 });
      await shot(page, 'login');
    });

    await check('log_in_and_see_overview', async () => {
      await page.fill('#login-user', 'guest');
      await page.fill('#login-password', 'guest');
      await page.click('#login-submit');
      await page.locator('#shell').waitFor({ state: 'visible', timeout: 5000 });
      await page.locator('.stat .label', { hasText: 'Queues' }).waitFor({ timeout: 8000 });
      const who = await page.textContent('#whoami');
      if (who !== 'guest') throw new Error(`whoami shows ${who}`);
      await page.locator('#overview-node', { hasText: 'amqp' }).waitFor({ timeout: 5000 });
    });

    await check('create_queue_with_the_form', async () => {
      await page.click('#nav a[data-page=queues]');
      await page.locator('#add-queue').waitFor();
      await page.fill('#add-queue [name=name]', queue);
      await page.fill('#add-queue [name=arguments]', 'x-max-length=1000');
      await page.click('#add-queue button[type=submit]');
      await page.locator('table a.name', { hasText: queue }).waitFor({ timeout: 5000 });
      const q = await api('GET', `/api/queues/%2F/${encodeURIComponent(queue)}`);
      if (q.status !== 200 || !q.body.durable || q.body.arguments['x-max-length'] !== 1000) throw new Error(`queue: ${JSON.stringify(q)}`);
    });

    await check('search_queues', async () => {
      await page.fill('input.search', `${runId}-ord`);
      await page.locator('.toolbar .muted', { hasText: 'match' }).waitFor({ timeout: 5000 });
      const names = await page.locator('table a.name').allTextContents();
      if (names.length !== 1 || names[0] !== queue) throw new Error(`filtered: ${names}`);
      if (!page.url().includes(`name=${runId}-ord`)) throw new Error(`the filter is not in the URL: ${page.url()}`);
      await page.fill('input.search', '');
      await page.locator('.toolbar .muted', { hasNotText: 'match' }).waitFor({ timeout: 5000 });
      await shot(page, 'queues');
    });

    await check('publish_and_get_a_message', async () => {
      await page.click(`table a.name:text-is("${queue}")`);
      await page.locator('#get-messages').waitFor();
      const form = page.locator('form.publish');
      await form.locator('[name=content_type]').fill('text/plain');
      await form.locator('[name=headers]').fill('origin=ui');
      await form.locator('[name=payload]').fill('hello from the browser');
      await form.locator('button[type=submit]').click();
      await page.locator('.toast', { hasText: 'Message published' }).waitFor({ timeout: 5000 });
      await page.click('#get-messages button[type=submit]');
      const payload = page.locator('.message pre.payload');
      await payload.waitFor({ timeout: 5000 });
      if ((await payload.textContent()) !== 'hello from the browser') throw new Error(`got ${await payload.textContent()}`);
      if (!(await page.locator('.message', { hasText: 'origin=ui' }).count())) throw new Error('header not shown');
      // The default ack mode requeues: the message is still there.
      const q = await api('GET', `/api/queues/%2F/${encodeURIComponent(queue)}`);
      if (q.body.messages !== 1) throw new Error(`queue holds ${q.body.messages}`);
      await page.locator('.stat .value').first().waitFor();
      await shot(page, 'queue', true);
    });

    await check('bind_queue_to_an_exchange', async () => {
      const form = page.locator('form.add-binding');
      await form.locator('[name=other]').fill('amq.direct');
      await form.locator('[name=routing_key]').fill(`${runId}.key`);
      await form.locator('button[type=submit]').click();
      await page.locator('td', { hasText: `${runId}.key` }).waitFor({ timeout: 5000 });
      const r = await api('POST', '/api/exchanges/%2F/amq.direct/publish', { routing_key: `${runId}.key`, payload: 'via binding', payload_encoding: 'string', properties: {} });
      if (!r.body.routed) throw new Error('not routed through the new binding');
    });

    await check('create_and_delete_a_user', async () => {
      await page.click('#nav a[data-page=users]');
      await page.locator('#add-user').waitFor();
      await page.fill('#add-user [name=name]', user);
      await page.fill('#add-user [name=password]', 's3cret');
      await page.check('#add-user [name=tag_monitoring]');
      await page.click('#add-user button[type=submit]');
      const row = page.locator(`button[data-user="${user}"]`);
      await row.waitFor({ timeout: 5000 });
      let u = await api('GET', `/api/users/${encodeURIComponent(user)}`);
      if (u.status !== 200 || !u.body.tags.includes('monitoring')) throw new Error(`created: ${JSON.stringify(u)}`);
      await shot(page, 'users');
      await row.click();
      await page.locator('#confirm[open]').waitFor();
      await page.click('#confirm-ok');
      await row.waitFor({ state: 'detached', timeout: 5000 });
      u = await api('GET', `/api/users/${encodeURIComponent(user)}`);
      if (u.status !== 404) throw new Error(`after delete: ${u.status}`);
    });

    await check('add_a_vhost_and_pick_it', async () => {
      const vhost = `ui-${runId}/eu`; // a '/' in the name must travel as %2F
      await page.click('#nav a[data-page=vhosts]');
      await page.click('summary:has-text("Add a virtual host")');
      await page.fill('#add-vhost [name=name]', vhost);
      await page.click('#add-vhost button[type=submit]');
      await page.locator('td .name', { hasText: vhost }).waitFor({ timeout: 5000 });
      await page.locator(`#vhost-select option[value="${vhost}"]`).waitFor({ state: 'attached', timeout: 5000 });
      await page.selectOption('#vhost-select', vhost);
      await page.click('#nav a[data-page=queues]');
      await page.locator('#main .empty', { hasText: 'No queues yet' }).waitFor({ timeout: 5000 });
      await page.selectOption('#vhost-select', '');
      await page.locator('table a.name', { hasText: queue }).waitFor({ timeout: 5000 });
      const v = await api('GET', `/api/vhosts/${encodeURIComponent(vhost)}`);
      if (v.status !== 200) throw new Error(`vhost: ${v.status}`);
    });

    await check('every_page_renders', async () => {
      for (const [nav, text] of [['exchanges', 'amq.topic'], ['connections', 'Connections'], ['channels', 'Channels'],
        ['vhosts', '/ (default)'], ['policies', 'Policies'], ['definitions', 'Export']]) {
        await page.click(`#nav a[data-page=${nav}]`);
        await page.locator('#main', { hasText: text }).waitFor({ timeout: 5000 });
        await page.locator('#main .loading').waitFor({ state: 'detached', timeout: 5000 });
        if (['exchanges', 'connections', 'vhosts', 'definitions'].includes(nav)) await shot(page, nav);
      }
      await page.click('#nav a[data-page=exchanges]');
      await page.click('table a.name:text-is("amq.direct")');
      await page.locator('#main', { hasText: 'Bindings from this exchange' }).waitFor();
      await page.locator('td', { hasText: `${runId}.key` }).waitFor({ timeout: 5000 });
      await shot(page, 'exchange', true);
    });

    await check('add_a_policy_and_see_it_applied', async () => {
      await page.click('#nav a[data-page=policies]');
      await page.click('details.section summary');
      await page.fill('#add-policy [name=name]', `${runId}-pol`);
      await page.fill('#add-policy [name=pattern]', `^${queue}$`);
      await page.selectOption('#add-policy [name=apply_to]', 'queues');
      await page.fill('#add-policy [name=definition]', 'max-length=1000\nmessage-ttl=600000');
      await page.click('#add-policy button[type=submit]');
      await page.locator('table .name', { hasText: `${runId}-pol` }).waitFor({ timeout: 5000 });
      const q = await api('GET', `/api/queues/%2F/${encodeURIComponent(queue)}`);
      if (q.body.policy !== `${runId}-pol`) throw new Error(`queue policy ${q.body.policy}`);
      if (q.body.effective_policy_definition['max-length'] !== 1000) throw new Error(JSON.stringify(q.body.effective_policy_definition));
      await shot(page, 'policies');
      const d = await api('DELETE', `/api/policies/%2F/${encodeURIComponent(`${runId}-pol`)}`);
      if (d.status !== 204) throw new Error(`delete policy: ${d.status}`);
    });

    await check('upload_definitions', async () => {
      const file = path.join(os.tmpdir(), `warren-ui-defs-${runId}.json`);
      fs.writeFileSync(file, JSON.stringify({ queues: [{ name: `ui-${runId}-imported`, vhost: '/', durable: true, auto_delete: false, arguments: {} }] }));
      await page.click('#nav a[data-page=definitions]');
      await page.setInputFiles('#definitions-file', file);
      await page.click('#upload-definitions');
      await page.locator('#main .info-box', { hasText: 'Definitions imported' }).waitFor({ timeout: 5000 });
      fs.unlinkSync(file);
      const q = await api('GET', `/api/queues/%2F/${encodeURIComponent(`ui-${runId}-imported`)}`);
      if (q.status !== 200 || !q.body.durable) throw new Error(`imported queue: ${q.status}`);
    });

    await check('download_definitions', async () => {
      await page.click('#nav a[data-page=definitions]');
      const [download] = await Promise.all([page.waitForEvent('download', { timeout: 5000 }), page.click('#download-definitions')]);
      if (!/^warren-definitions-.*\.json$/.test(download.suggestedFilename())) throw new Error(`file ${download.suggestedFilename()}`);
      const defs = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
      if (!defs.queues.some((q) => q.name === queue)) throw new Error('the new queue is not in the export');
    });

    await check('overview_charts_fill_with_rates', async () => {
      await page.click('#nav a[data-page=overview]');
      // Traffic across a few polls, so the rate chart has something to draw.
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 20; j++) {
          await api('POST', '/api/exchanges/%2F/amq.default/publish', { routing_key: queue, payload: `m${i}.${j}`, payload_encoding: 'string', properties: {} });
        }
        await api('POST', `/api/queues/%2F/${encodeURIComponent(queue)}/get`, { count: 5, ackmode: 'ack_requeue_false', encoding: 'auto' });
        await page.waitForTimeout(2600);
      }
      await page.waitForFunction(() => {
        const s = [...document.querySelectorAll('.stat')].find((e) => e.textContent.startsWith('Messages'));
        return s && Number(s.querySelector('.value').textContent.replace(/,/g, '')) > 1;
      }, null, { timeout: 8000 });
      const legend = await page.locator('.legend').first().textContent();
      if (!/Publish/.test(legend)) throw new Error(`legend ${legend}`);
      await shot(page, 'overview');
    });

    await check('log_out', async () => {
      await page.click('#logout');
      await page.locator('#login-form').waitFor({ state: 'visible' });
      const stored = await page.evaluate(() => sessionStorage.getItem('warren.auth'));
      if (stored) throw new Error('credentials still in sessionStorage');
    });

    await context.close();

    await check('memory_alarm_is_a_banner', async () => {
      const ctx3 = await browser.newContext({ viewport: { width: 1400, height: 900 }, deviceScaleFactor: 1 });
      const p3 = await ctx3.newPage();
      p3.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      p3.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
      await p3.goto(`http://127.0.0.1:${alarmedPort}/`);
      await p3.fill('#login-user', 'guest');
      await p3.fill('#login-password', 'guest');
      await p3.click('#login-submit');
      await p3.locator('#alarms .alarm', { hasText: 'Memory alarm' }).waitFor({ timeout: 8000 });
      await p3.locator('#overview-node .tag.danger', { hasText: 'memory' }).waitFor({ timeout: 8000 });
      await shot(p3, 'alarm');
      await ctx3.close();
    });

    // A user with only the management tag: no admin pages, no requests it may not make.
    await check('management_user_sees_no_admin_pages', async () => {
      const bob = `ui-${runId}-bob`;
      await api('PUT', `/api/users/${encodeURIComponent(bob)}`, { password: 'pw', tags: 'management' });
      await api('PUT', `/api/permissions/%2F/${encodeURIComponent(bob)}`, { configure: '.*', write: '.*', read: '.*' });
      const ctx4 = await browser.newContext();
      const p4 = await ctx4.newPage();
      p4.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      p4.on('console', (m) => { if (m.type() === 'error') problems.push(`console error (management user): ${m.text()}`); });
      p4.on('response', (r) => { if (r.status() >= 400 && !tolerated(r.url(), r.status())) problems.push(`HTTP ${r.status()} for ${r.url()} (management user)`); });
      await p4.goto(`${base}/`);
      await p4.fill('#login-user', bob);
      await p4.fill('#login-password', 'pw');
      await p4.click('#login-submit');
      await p4.locator('.stat .label', { hasText: 'Queues' }).waitFor({ timeout: 8000 });
      for (const admin of ['users', 'vhosts', 'definitions']) {
        if (await p4.locator(`#nav a[data-page=${admin}]`).isVisible()) throw new Error(`${admin} shown to a management user`);
      }
      await p4.click('#nav a[data-page=queues]');
      await p4.locator('table a.name', { hasText: queue }).waitFor({ timeout: 5000 });
      await p4.waitForTimeout(5500); // one more poll of the overview and the alarms
      await ctx4.close();
    });

    // A wrong password: the form shows why (this page expects its 401).
    await check('wrong_password_is_refused', async () => {
      const ctx2 = await browser.newContext();
      const p2 = await ctx2.newPage();
      p2.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await p2.goto(`${base}/`);
      await p2.fill('#login-user', 'guest');
      await p2.fill('#login-password', 'wrong');
      await p2.click('#login-submit');
      await p2.locator('#login-error', { hasText: 'Login failed' }).waitFor({ timeout: 5000 });
      if (await p2.locator('#shell').isVisible()) throw new Error('shell shown');
      await ctx2.close();
    });
  } finally {
    await browser.close();
  }
  let failed = 0;
  for (const [status, name, why] of results) {
    console.log(`${status} ${name}${why ? `: ${why}` : ''}`);
    if (status !== 'PASS') failed++;
  }
  console.log(`${results.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => {
  console.error('FAIL', e);
  process.exit(1);
});
