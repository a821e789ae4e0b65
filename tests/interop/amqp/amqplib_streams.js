// Stream queues (x-queue-type: stream) through amqplib (Node.js): declare, publish on a confirm
// channel, consume from "first" and from a numeric x-stream-offset with a prefetch (an ack is
// credit), the x-stream-offset header on every delivery, two independent consumers, and the
// refusals amqplib users meet first (no prefetch, noAck, non-durable declare).
// Validated against RabbitMQ 3.10.8 (WARREN_EXTERNAL=127.0.0.1:<port> amqplib_streams.py): all
// pass there. Usage: node amqplib_streams.js <amqp-url> [name-suffix] (run by amqplib_streams.py,
// which starts the broker and sets NODE_PATH). Prints PASS/FAIL per test and "N passed, N failed".
'use strict';
const amqp = require('amqplib');
const assert = require('assert');

const url = process.argv[2];
const suffix = process.argv[3] || String(process.pid);
const scale = Number(process.env.WARREN_TIME_SCALE || 1);
const uniq = (base) => `it.node.${base}.${suffix}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const STREAM = { 'x-queue-type': 'stream' };
const vq = (q) => `queue '${q}' in vhost '/'`;

async function waitFor(pred, what, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs * scale;
    while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(10);
    }
}

async function withConn(fn) {
    const conn = await amqp.connect(url);
    conn.on('error', () => {});
    try {
        return await fn(conn);
    } finally {
        await conn.close().catch(() => {});
    }
}

async function declareStream(conn, base) {
    const ch = await conn.createChannel();
    const q = uniq(base);
    const ok = await ch.assertQueue(q, { durable: true, arguments: STREAM });
    assert.deepStrictEqual([ok.queue, ok.messageCount, ok.consumerCount], [q, 0, 0]);
    await ch.close();
    return q;
}

// Confirmed one by one: each message is a chunk of its own.
async function publish(conn, q, bodies, options = {}) {
    const ch = await conn.createConfirmChannel();
    for (const b of bodies) {
        await new Promise((resolve, reject) => {
            ch.sendToQueue(q, Buffer.from(b), options, (err) => (err ? reject(err) : resolve()));
        });
    }
    await ch.close();
}

async function consumer(conn, q, offset, prefetch, autoAck = false) {
    const ch = await conn.createChannel();
    await ch.prefetch(prefetch);
    const got = [];
    const args = offset === undefined ? {} : { 'x-stream-offset': offset };
    const ok = await ch.consume(q, (msg) => {
        if (msg === null) return;
        got.push(msg);
        if (autoAck) ch.ack(msg);
    }, { noAck: false, arguments: args });
    return { ch, got, tag: ok.consumerTag };
}

const bodies = (got) => got.map((m) => m.content.toString());
const offsets = (got) => got.map((m) => m.properties.headers['x-stream-offset']);
const range = (p, a, b) => Array.from({ length: b - a }, (_, i) => `${p}${a + i}`);

// A channel error (406) closes the channel, a connection error (540) the connection: either
// way the error must carry code and text.
async function expectClose(conn, fn, code, text) {
    let connErr = null;
    conn.on('error', (e) => { connErr = connErr || e; });
    const ch = await conn.createChannel();
    let chErr = null;
    ch.on('error', (e) => { chErr = chErr || e; });
    try {
        await fn(ch);
    } catch (e) {
        if (e.code !== undefined) chErr = chErr || e;
    }
    await waitFor(() => chErr !== null || connErr !== null, `error ${code}`);
    await sleep(100);
    const e = connErr || chErr;
    assert.strictEqual(e.code, code, `${e.message}`);
    assert.ok(e.message.includes(text), `"${e.message}" lacks "${text}"`);
}

async function testDeclarePublishConsumeFirst() {
    await withConn(async (conn) => {
        const q = await declareStream(conn, 'st.first');
        await publish(conn, q, range('m', 0, 5), { headers: { h: 'v' }, persistent: false });
        const c = await consumer(conn, q, 'first', 10);
        await waitFor(() => c.got.length === 5, '5 deliveries');
        assert.deepStrictEqual(bodies(c.got), range('m', 0, 5));
        assert.deepStrictEqual(offsets(c.got), [0, 1, 2, 3, 4]);
        for (const m of c.got) {
            assert.strictEqual(m.fields.redelivered, false);
            assert.strictEqual(m.properties.headers.h, 'v');
            assert.strictEqual(m.properties.deliveryMode, 1, 'transient messages are kept');
        }
        const ch = await conn.createChannel();
        await ch.deleteQueue(q);
    });
}

async function testNumericOffsetAndPrefetchCredit() {
    await withConn(async (conn) => {
        const q = await declareStream(conn, 'st.credit');
        await publish(conn, q, range('m', 0, 8));
        const c = await consumer(conn, q, 3, 2);
        await waitFor(() => c.got.length === 2, '2 deliveries');
        await sleep(400);
        assert.strictEqual(c.got.length, 2, 'prefetch 2: no more until an ack');
        c.ch.ack(c.got[0]);
        await waitFor(() => c.got.length === 3, 'a third delivery');
        await sleep(300);
        assert.strictEqual(c.got.length, 3, 'one ack, one more');
        c.ch.ack(c.got[2], true);
        await waitFor(() => c.got.length === 5, 'all 5');
        assert.deepStrictEqual(bodies(c.got), range('m', 3, 8));
        assert.deepStrictEqual(offsets(c.got), [3, 4, 5, 6, 7]);
        // Acked messages stay for a new consumer.
        const d = await consumer(conn, q, 'first', 100);
        await waitFor(() => d.got.length === 8, 'all 8 again');
        await d.ch.deleteQueue(q);
    });
}

async function testTwoConsumersAndLivePublish() {
    await withConn(async (conn) => {
        const q = await declareStream(conn, 'st.two');
        await publish(conn, q, range('m', 0, 3));
        const a = await consumer(conn, q, 'first', 10, true);
        const b = await consumer(conn, q, 'next', 10, true);
        await waitFor(() => a.got.length === 3, 'a: 3');
        await sleep(200);
        assert.strictEqual(b.got.length, 0, '"next" gets nothing old');
        await publish(conn, q, range('m', 3, 5));
        await waitFor(() => a.got.length === 5 && b.got.length === 2, 'live deliveries');
        assert.deepStrictEqual(bodies(a.got), range('m', 0, 5));
        assert.deepStrictEqual(offsets(b.got), [3, 4]);
        const last = await consumer(conn, q, 'last', 10);
        await waitFor(() => last.got.length === 1, '"last"');
        assert.deepStrictEqual(bodies(last.got), ['m4']);
        await last.ch.deleteQueue(q);
    });
}

async function testRefusals() {
    const q = await withConn((conn) => declareStream(conn, 'st.refuse'));
    await withConn((conn) => expectClose(conn, (ch) => ch.consume(q, () => {}),
        406, `PRECONDITION_FAILED - consumer prefetch count is not set for '${vq(q)}'`));
    await withConn((conn) => expectClose(conn, async (ch) => {
        await ch.prefetch(10);
        await ch.consume(q, () => {}, { noAck: true });
    }, 540, `NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues ${vq(q)}`));
    const nd = uniq('st.nondurable');
    await withConn((conn) => expectClose(conn,
        (ch) => ch.assertQueue(nd, { durable: false, arguments: STREAM }),
        406, `PRECONDITION_FAILED - invalid property 'non-durable' for ${vq(nd)}`));
    await withConn(async (conn) => { const ch = await conn.createChannel(); await ch.deleteQueue(q); });
}

async function main() {
    const tests = [testDeclarePublishConsumeFirst, testNumericOffsetAndPrefetchCredit,
        testTwoConsumersAndLivePublish, testRefusals];
    let passed = 0;
    let failed = 0;
    for (const t of tests) {
        const t0 = Date.now();
        try {
            await t();
            passed += 1;
            console.log(`PASS ${t.name} (${((Date.now() - t0) / 1000).toFixed(2)}s)`);
        } catch (e) {
            failed += 1;
            console.log(`FAIL ${t.name} (${((Date.now() - t0) / 1000).toFixed(2)}s)`);
            console.log(e && e.stack ? e.stack : e);
        }
    }
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}

main();
