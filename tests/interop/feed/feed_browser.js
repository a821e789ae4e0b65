// The feed app in a real browser (issue #17): headless Chromium (playwright-core) opens feedd's
// page as bob, who follows ann; ann posts through the API.
//
//   node feed_browser.js <app_url> <ann_id> <bob_id> <ttl_ms> [screenshot.png]
//
// Checks, push mode: a post appears in bob's open page without a reload, delivered by push; bob
// is online in the presence store while the page is open and offline after it closes; a post
// made while bob is offline, within the queue's TTL, is pushed to him when he comes back; one
// made longer than the TTL before he comes back is only in the refreshed feed (read from the
// database), never pushed.
//
//   node feed_browser.js pull <app_url> <ann_id> <bob_id> <poll_ms>
//
// Checks, pull mode (feedd --mode pull, the seed's counter-example): the page says it polls
// and subscribes to nothing; it asks the database about every poll_ms while open; a post
// appears in the open page without a reload within poll_ms (+ a margin), by a poll, never by
// push; bob is online while the page is open. Prints one PASS/FAIL line per check; exit 1 on
// failure.
const { chromium } = require('playwright-core');

const pullMode = process.argv[2] === 'pull';
const [app, ann, bob, ttlMs, shot] = process.argv.slice(pullMode ? 3 : 2);
const ttl = Number(ttlMs);
const pollMs = Number(ttlMs);  // pull mode: the fourth argument is the poll interval
const scale = Number(process.env.WARREN_TIME_SCALE || '1');

async function api(method, path, body) {
    const r = await fetch(app + path, {
        method, headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status}`);
    return r.json();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(pred, ms, what) {
    const end = Date.now() + ms * scale;
    while (Date.now() < end) {
        if (await pred()) return;
        await sleep(50);
    }
    throw new Error('timed out: ' + what);
}

async function openBob(browser) {
    const page = await browser.newPage();
    page.on('console', (m) => { if (process.env.VERBOSE) console.log('page:', m.text()); });
    page.wsUrls = [];
    page.on('websocket', (ws) => page.wsUrls.push(ws.url()));
    await page.goto(`${app}/?user=${bob}`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 10000 * scale });
    await page.waitForSelector(pullMode ? '#status.polling' : '#status.live',
                               { timeout: 10000 * scale });
    return page;
}

const item = (page, text) => page.evaluate((text) => {
    for (const li of document.querySelectorAll('#feed li')) {
        if (li.querySelector('.text').textContent === text) {
            return { via: li.dataset.via, pushed: li.dataset.pushed === '1',
                     latency: Number(li.dataset.latencyMs || -1) };
        }
    }
    return null;
}, text);

// Pull mode: the page polls GET /api/feed every poll_ms; nothing is pushed.
async function pullChecks(browser, check) {
    const page = await openBob(browser);
    await check('page_polls_and_subscribes_to_nothing', async () => {
        const cfg = await api('GET', '/api/config');
        if (cfg.mode !== 'pull') throw new Error('feedd is in ' + cfg.mode + ' mode');
        const status = await page.textContent('#status');
        if (!status.includes(String(pollMs))) throw new Error('status says ' + status);
        // Its only WebSocket is the presence one: never the broker's STOMP endpoint.
        await until(async () => page.wsUrls.some((u) => u.endsWith('/presence')), 5000,
                    'the presence WebSocket');
        if (page.wsUrls.some((u) => u.endsWith('/ws')))
            throw new Error('the page opened ' + page.wsUrls.join(', '));
    });
    await check('page_polls_the_database', async () => {
        // Lower bound: over 3 poll intervals the open page runs at least 2 feed queries.
        const q0 = (await api('GET', '/api/stats')).db_queries;
        await sleep(3 * pollMs);
        const q1 = (await api('GET', '/api/stats')).db_queries;
        if (q1 - q0 < 2) throw new Error(`${q1 - q0} database statements in ${3 * pollMs} ms`);
        console.log(`  ${q1 - q0} database statements in ${3 * pollMs} ms with one page open`);
    });
    await check('online_in_presence_store', async () => {
        await until(async () => (await api('GET', `/api/presence/${bob}`)).online, 5000,
                    'bob online');
    });
    for (const text of ['polled one', 'polled two']) {
        await check(`post_appears_by_poll_without_reload (${text})`, async () => {
            const t0 = Date.now();
            await api('POST', '/api/posts', { author: Number(ann), text });
            // A poll starts within poll_ms of the post; the margin covers the poll itself
            // (scaled by until(), like every bound here).
            await until(async () => !!(await item(page, text)), pollMs + 2000,
                        `the post in the open page within ${pollMs} ms + 2 s`);
            const ms = Date.now() - t0;
            const i = await item(page, text);
            if (i.via !== 'pull') throw new Error('came by ' + i.via);
            if (i.pushed) throw new Error('pushed in pull mode');
            console.log(`  post to screen in ${ms} ms (poll every ${pollMs} ms)`);
        });
    }
    if (page.wsUrls.some((u) => u.endsWith('/ws'))) {
        await check('still_no_stomp_websocket', async () => {
            throw new Error('the page opened ' + page.wsUrls.join(', '));
        });
    }
    await page.close();
}

async function main() {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu'],
    });
    let failed = 0;
    const check = async (name, fn) => {
        try { await fn(); console.log('PASS', name); }
        catch (e) { failed++; console.log('FAIL', name, String(e && e.message || e)); }
    };
    try {
        if (pullMode) await pullChecks(browser, check);
        else await pushChecks(browser, check);
    } finally {
        await browser.close();
    }
    process.exit(failed ? 1 : 0);
}

// Push mode: live, presence, offline within and past the TTL.
async function pushChecks(browser, check) {
    let page = await openBob(browser);
    await check('post_appears_live_without_reload', async () => {
        const t0 = Date.now();
        await api('POST', '/api/posts', { author: Number(ann), text: 'live one' });
        await until(async () => { const i = await item(page, 'live one'); return i && i.pushed; },
                    5000, 'the live post in the open page');
        console.log(`  post to screen in ${Date.now() - t0} ms`);
    });
    await check('online_in_presence_store', async () => {
        await until(async () => (await api('GET', `/api/presence/${bob}`)).online, 5000,
                    'bob online');
    });
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    await page.close();
    await check('offline_after_close', async () => {
        await until(async () => !(await api('GET', `/api/presence/${bob}`)).online, 5000,
                    'bob offline');
    });
    await check('offline_within_ttl_is_pushed_on_reconnect', async () => {
        await api('POST', '/api/posts', { author: Number(ann), text: 'while away' });
        await sleep(300);
        page = await openBob(browser);
        await until(async () => { const i = await item(page, 'while away'); return i && i.pushed; },
                    5000, 'the queued post pushed after reconnecting');
        await page.close();
    });
    await check('offline_past_ttl_only_in_refreshed_feed', async () => {
        await until(async () => !(await api('GET', `/api/presence/${bob}`)).online, 5000,
                    'bob offline again');
        await api('POST', '/api/posts', { author: Number(ann), text: 'long gone' });
        await sleep(ttl + 1500);
        page = await openBob(browser);
        await until(async () => !!(await item(page, 'long gone')), 5000,
                    'the expired post in the feed read from the database');
        await sleep(1500);
        const i = await item(page, 'long gone');
        if (i.via !== 'db') throw new Error('came by ' + i.via);
        if (i.pushed) throw new Error('pushed after its TTL ran out');
        await page.close();
    });
}

main().catch((e) => { console.log('FAIL', e); process.exit(1); });
