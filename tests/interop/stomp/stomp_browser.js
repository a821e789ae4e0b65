// STOMP over WebSocket from a real browser: headless Chromium (playwright-core) runs
// @stomp/stompjs against warrend's /ws endpoint.
//
//   node stomp_browser.js <http_port> <run_id>
//
// Checks, inside the page: CONNECT with login, heart-beats negotiated, subscribe + publish with
// headers, a binary body with NUL bytes, client-individual ack + nack redelivery, a receipt, and
// an ERROR frame for a bad destination. Prints one PASS/FAIL line per check; exit 1 on failure.
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const port = process.argv[2];
const runId = process.argv[3] || 'x';
// The UMD bundle is not in the package's "exports", so find it on disk.
const bundle = [...(process.env.NODE_PATH || '').split(path.delimiter),
                path.join(__dirname, '..', '..', 'node_modules')]
    .filter(Boolean)
    .map((d) => path.join(d, '@stomp', 'stompjs', 'bundles', 'stomp.umd.min.js'))
    .find((f) => fs.existsSync(f));
const stompjs = fs.readFileSync(bundle, 'utf8');

async function main() {
    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        args: ['--no-sandbox', '--disable-gpu'],
    });
    let failed = 0;
    try {
        const page = await browser.newPage();
        page.on('console', (m) => { if (process.env.VERBOSE) console.log('page:', m.text()); });
        await page.setContent('<html><body>warren stomp test</body></html>');
        await page.addScriptTag({ content: stompjs });
        const results = await page.evaluate(async ({ port, runId }) => {
            const out = [];
            const url = `ws://127.0.0.1:${port}/ws`;
            const withTimeout = (p, ms, what) => Promise.race([
                p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout: ' + what)), ms))]);
            const connect = (extra = {}) => new Promise((resolve, reject) => {
                const c = new StompJs.Client({
                    brokerURL: url,
                    connectHeaders: { login: 'guest', passcode: 'guest' },
                    reconnectDelay: 0,
                    heartbeatIncoming: 500,
                    heartbeatOutgoing: 500,
                    ...extra,
                });
                c.onConnect = (frame) => resolve({ c, frame });
                c.onStompError = (f) => reject(new Error('ERROR ' + f.headers.message));
                c.onWebSocketError = () => reject(new Error('websocket error'));
                c.activate();
            });
            const check = async (name, fn) => {
                try { await withTimeout(fn(), 8000, name); out.push(['PASS', name]); }
                catch (e) { out.push(['FAIL', name, String(e && e.message || e)]); }
            };

            await check('connect_and_heartbeat', async () => {
                const { c, frame } = await connect();
                if (frame.headers.version !== '1.2') throw new Error('version ' + frame.headers.version);
                if (frame.headers['heart-beat'] !== '500,500') throw new Error('hb ' + frame.headers['heart-beat']);
                await new Promise((r) => setTimeout(r, 1500));  // survives heart-beating
                if (!c.connected) throw new Error('dropped while heart-beating');
                await c.deactivate();
            });

            await check('publish_subscribe_headers', async () => {
                const { c } = await connect();
                const q = `/queue/browser.${runId}.a`;
                const got = new Promise((resolve) => c.subscribe(q, resolve));
                c.publish({ destination: q, body: 'hello from the browser',
                            headers: { 'content-type': 'text/plain', 'x-note': 'n:1' } });
                const m = await got;
                if (m.body !== 'hello from the browser') throw new Error('body ' + m.body);
                if (m.headers['x-note'] !== 'n:1') throw new Error('header ' + m.headers['x-note']);
                if (m.headers.destination !== q) throw new Error('dest ' + m.headers.destination);
                await c.deactivate();
            });

            await check('binary_body', async () => {
                const { c } = await connect();
                const q = `/queue/browser.${runId}.bin`;
                const got = new Promise((resolve) => c.subscribe(q, resolve));
                const bytes = new Uint8Array([0, 1, 2, 255, 0, 128, 7]);
                c.publish({ destination: q, binaryBody: bytes,
                            headers: { 'content-type': 'application/octet-stream' } });
                const m = await got;
                const b = m.binaryBody;
                if (b.length !== bytes.length || b.some((v, i) => v !== bytes[i])) {
                    throw new Error('binary ' + Array.from(b));
                }
                await c.deactivate();
            });

            await check('ack_nack_receipt', async () => {
                const { c } = await connect();
                const q = `/queue/browser.${runId}.ack`;
                const seen = [];
                let resolveTwo;
                const two = new Promise((r) => { resolveTwo = r; });
                c.subscribe(q, (m) => {
                    seen.push(m);
                    if (seen.length === 1) m.nack();           // requeue
                    else { m.ack(); resolveTwo(); }
                }, { ack: 'client-individual' });
                const receipt = new Promise((r) => c.watchForReceipt('r-1', r));
                c.publish({ destination: q, body: 'once', headers: { receipt: 'r-1' } });
                await receipt;
                await two;
                if (seen[1].headers.redelivered !== 'true') throw new Error('not redelivered');
                await c.deactivate();
            });

            await check('error_frame_for_bad_destination', async () => {
                const { c } = await connect();
                const err = new Promise((resolve) => { c.onStompError = resolve; });
                c.publish({ destination: '/nowhere/x', body: 'x' });
                const f = await err;
                if (f.headers.message !== 'Unknown destination') throw new Error('message ' + f.headers.message);
                await c.deactivate();
            });
            return out;
        }, { port, runId });
        for (const r of results) {
            console.log(r.join(' '));
            if (r[0] !== 'PASS') failed++;
        }
    } finally {
        await browser.close();
    }
    console.log(failed ? `${failed} failed` : 'all passed');
    process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
