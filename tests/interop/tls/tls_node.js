// TLS from Node.js and a real browser (run by tls_node.py, which makes the certificates, starts
// the broker and sets NODE_PATH):
//   - amqplib over amqps:// with a password, and with SASL EXTERNAL (client certificate CN=guest);
//   - @stomp/stompjs over WSS in headless Chromium (playwright-core), the browser accepting the
//     test server certificate by its SPKI pin;
//   - the same page fetching the management API over HTTPS.
//
//   node tls_node.js <certs_dir> <amqps_port> <https_port> <run_id>
//
// Prints one PASS/FAIL line per check; exit 1 on any failure.
'use strict';
const fs = require('fs');
const path = require('path');
const amqp = require('amqplib');
const { chromium } = require('playwright-core');

const [certsDir, amqpsPort, httpsPort, runId = 'x', spki] = process.argv.slice(2);
const file = (name) => fs.readFileSync(path.join(certsDir, name));
const uniq = (base) => `it.tls.${base}.${runId}`;

const bundle = [...(process.env.NODE_PATH || '').split(path.delimiter),
                path.join(__dirname, '..', '..', 'node_modules')]
    .filter(Boolean)
    .map((d) => path.join(d, '@stomp', 'stompjs', 'bundles', 'stomp.umd.min.js'))
    .find((f) => fs.existsSync(f));

async function amqpRoundtrip(conn, body) {
    const ch = await conn.createChannel();
    const q = (await ch.assertQueue(uniq('q') + Math.random(), { exclusive: true })).queue;
    ch.sendToQueue(q, Buffer.from(body));
    for (let i = 0; i < 100; i++) {
        const m = await ch.get(q, { noAck: true });
        if (m) return m.content.toString();
        await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('message not back');
}

const checks = [];
async function check(name, fn) {
    try {
        await Promise.race([fn(), new Promise((_, rej) => setTimeout(
            () => rej(new Error('timeout')), 20000))]);
        checks.push(['PASS', name]);
    } catch (e) {
        checks.push(['FAIL', name, String(e && e.stack || e)]);
    }
}

async function main() {
    const tls = { ca: [file('ca.pem')], servername: 'localhost' };

    await check('amqplib_amqps_password', async () => {
        const conn = await amqp.connect(`amqps://guest:guest@localhost:${amqpsPort}/%2F`, tls);
        conn.on('error', () => {});
        if (await amqpRoundtrip(conn, 'amqplib over tls') !== 'amqplib over tls') throw new Error('body');
        await conn.close();
    });

    await check('amqplib_external_client_certificate', async () => {
        const conn = await amqp.connect(`amqps://localhost:${amqpsPort}/%2F`, {
            ...tls, cert: file('guest.pem'), key: file('guest.key'),
            credentials: amqp.credentials.external(),
        });
        conn.on('error', () => {});
        if (await amqpRoundtrip(conn, 'external') !== 'external') throw new Error('body');
        await conn.close();
    });

    await check('amqplib_external_without_certificate_refused', async () => {
        let conn;
        try {
            conn = await amqp.connect(`amqps://localhost:${amqpsPort}/%2F`, {
                ...tls, credentials: amqp.credentials.external(),
            });
        } catch (e) {
            return;  // refused: EXTERNAL is not offered without a client certificate
        }
        await conn.close();
        throw new Error('EXTERNAL accepted without a client certificate');
    });

    const browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        // Trust exactly the test server's key (the test CA is not in the browser's store).
        args: ['--no-sandbox', '--disable-gpu', `--ignore-certificate-errors-spki-list=${spki}`],
    });
    try {
        const page = await browser.newPage();
        page.on('console', (m) => { if (process.env.VERBOSE) console.log('page:', m.text()); });
        await page.goto(`https://localhost:${httpsPort}/api/health`);
        const health = await page.textContent('body');
        await check('browser_https_management_api', async () => {
            if (!health.includes('"ok"')) throw new Error('health: ' + health);
        });
        await page.addScriptTag({ content: fs.readFileSync(bundle, 'utf8') });
        const results = await page.evaluate(async ({ httpsPort, runId }) => {
            const out = [];
            const connect = () => new Promise((resolve, reject) => {
                const c = new StompJs.Client({
                    brokerURL: `wss://localhost:${httpsPort}/ws`,
                    connectHeaders: { login: 'guest', passcode: 'guest' },
                    reconnectDelay: 0,
                    heartbeatIncoming: 500,
                    heartbeatOutgoing: 500,
                });
                c.onConnect = (frame) => resolve({ c, frame });
                c.onStompError = (f) => reject(new Error('ERROR ' + f.headers.message));
                c.onWebSocketError = () => reject(new Error('websocket error'));
                c.activate();
            });
            try {
                const { c, frame } = await connect();
                if (frame.headers.version !== '1.2') throw new Error('version ' + frame.headers.version);
                const q = `/queue/wss.${runId}`;
                const got = new Promise((resolve) => c.subscribe(q, resolve));
                c.publish({ destination: q, body: 'hello over wss' });
                const m = await got;
                if (m.body !== 'hello over wss') throw new Error('body ' + m.body);
                await new Promise((r) => setTimeout(r, 1200));  // heart-beats over TLS
                if (!c.connected) throw new Error('dropped while heart-beating');
                await c.deactivate();
                out.push(['PASS', 'browser_stompjs_over_wss']);
            } catch (e) {
                out.push(['FAIL', 'browser_stompjs_over_wss', String(e && e.message || e)]);
            }
            return out;
        }, { httpsPort, runId });
        checks.push(...results);
    } finally {
        await browser.close();
    }
}

main().catch((e) => checks.push(['FAIL', 'main', String(e && e.stack || e)])).finally(() => {
    let failed = 0;
    for (const c of checks) {
        console.log(c.join(' '));
        if (c[0] !== 'PASS') failed++;
    }
    console.log(failed ? `${failed} failed` : 'all passed');
    process.exit(failed ? 1 : 0);
});
