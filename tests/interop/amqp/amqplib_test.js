// AMQP interop with amqplib (Node.js): the RabbitMQ tutorials plus a confirm channel.
// Usage: node amqplib_test.js <amqp-url> [name-suffix]   (run by amqplib.py, which starts the
// broker and sets NODE_PATH). Prints PASS/FAIL per test and "N passed, N failed".
'use strict';
const amqp = require('amqplib');
const assert = require('assert');

const url = process.argv[2];
const suffix = process.argv[3] || String(process.pid);
const uniq = (base) => `it.node.${base}.${suffix}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, what, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
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

async function testHelloWorld() {
    await withConn(async (conn) => {
        const ch = await conn.createChannel();
        const q = uniq('hello');
        const ok = await ch.assertQueue(q, { durable: false });
        assert.strictEqual(ok.queue, q);
        assert.strictEqual(ok.messageCount, 0);
        ch.sendToQueue(q, Buffer.from('Hello World!'), { contentType: 'text/plain' });
        const got = [];
        await ch.consume(q, (msg) => msg && got.push(msg), { noAck: true });
        await waitFor(() => got.length === 1, 'hello world message');
        assert.strictEqual(got[0].content.toString(), 'Hello World!');
        assert.strictEqual(got[0].properties.contentType, 'text/plain');
        assert.strictEqual(got[0].fields.routingKey, q);
        await ch.deleteQueue(q);
    });
}

async function testWorkQueue() {
    await withConn(async (conn) => {
        const q = uniq('tasks');
        const pub = await conn.createChannel();
        await pub.assertQueue(q, { durable: true });
        const counts = { slow: 0, fast: 0 };
        const redelivered = [];
        const modes = [];
        const total = 20;
        const startWorker = async (name, delayMs) => {
            const ch = await conn.createChannel();
            await ch.prefetch(1);
            await ch.consume(q, (msg) => {
                if (msg === null) return;  // consumer cancelled by the broker
                redelivered.push(msg.fields.redelivered);
                modes.push(msg.properties.deliveryMode);
                setTimeout(() => {
                    counts[name] += 1;
                    ch.ack(msg);
                }, delayMs);
            }, { noAck: false });
            return ch;
        };
        await startWorker('slow', 200);
        await startWorker('fast', 5);
        for (let i = 0; i < total; i++) {
            pub.sendToQueue(q, Buffer.from(`task ${i}`), { persistent: true });
        }
        await waitFor(() => counts.slow + counts.fast === total, 'all tasks done', 30000);
        assert.ok(counts.fast > 2 * counts.slow, `fair dispatch: ${JSON.stringify(counts)}`);
        assert.ok(redelivered.every((r) => r === false), 'no redeliveries expected');
        assert.ok(modes.every((m) => m === 2), `persistent delivery modes: ${modes}`);
        const check = await pub.checkQueue(q);
        assert.strictEqual(check.messageCount, 0);
        await pub.deleteQueue(q);
    });
}

async function testFanout() {
    await withConn(async (conn) => {
        const ch = await conn.createChannel();
        const ex = uniq('logs');
        await ch.assertExchange(ex, 'fanout', { durable: false });
        const queues = [];
        const got = {};
        for (let i = 0; i < 3; i++) {
            const { queue } = await ch.assertQueue('', { exclusive: true });
            assert.ok(queue.startsWith('amq.gen-'), `server-named queue ${queue}`);
            await ch.bindQueue(queue, ex, '');
            got[queue] = [];
            await ch.consume(queue, (m) => m && got[queue].push(m.content.toString()),
                { noAck: true });
            queues.push(queue);
        }
        const sent = ['a', 'b', 'c', 'd'];
        for (const s of sent) ch.publish(ex, 'whatever', Buffer.from(s));
        await waitFor(() => queues.every((q) => got[q].length === sent.length), 'fanout copies');
        for (const q of queues) assert.deepStrictEqual(got[q], sent);
        await ch.deleteExchange(ex);
    });
}

async function testTopic() {
    await withConn(async (conn) => {
        const ch = await conn.createChannel();
        const ex = uniq('topic');
        await ch.assertExchange(ex, 'topic', { durable: false });
        const q1 = (await ch.assertQueue('', { exclusive: true })).queue;
        const q2 = (await ch.assertQueue('', { exclusive: true })).queue;
        await ch.bindQueue(q1, ex, '*.orange.*');
        await ch.bindQueue(q2, ex, '*.*.rabbit');
        await ch.bindQueue(q2, ex, 'lazy.#');
        const table = [
            ['quick.orange.rabbit', true, true], ['lazy.orange.elephant', true, true],
            ['quick.orange.fox', true, false], ['lazy.brown.fox', false, true],
            ['lazy.pink.rabbit', false, true], ['quick.brown.fox', false, false],
            ['orange', false, false], ['quick.orange.male.rabbit', false, false],
            ['lazy.orange.male.rabbit', false, true],
        ];
        const got1 = [];
        const got2 = [];
        await ch.consume(q1, (m) => m && got1.push(m.content.toString()), { noAck: true });
        await ch.consume(q2, (m) => m && got2.push(m.content.toString()), { noAck: true });
        for (const [key] of table) ch.publish(ex, key, Buffer.from(key));
        ch.publish(ex, 'end.orange.rabbit', Buffer.from('END'));
        await waitFor(() => got1.includes('END') && got2.includes('END'), 'topic sentinel');
        assert.deepStrictEqual(got1, table.filter((r) => r[1]).map((r) => r[0]).concat(['END']));
        assert.deepStrictEqual(got2, table.filter((r) => r[2]).map((r) => r[0]).concat(['END']));
        await ch.deleteExchange(ex);
    });
}

function fib(n) {
    let a = 0;
    let b = 1;
    for (let i = 0; i < n; i++) [a, b] = [b, a + b];
    return a;
}

async function testRpc() {
    const rpcQ = uniq('rpc');
    const server = await amqp.connect(url);
    try {
        const sch = await server.createChannel();
        await sch.assertQueue(rpcQ, { durable: false });
        await sch.prefetch(1);
        await sch.consume(rpcQ, (msg) => {
            if (msg === null) return;
            const n = parseInt(msg.content.toString(), 10);
            sch.sendToQueue(msg.properties.replyTo, Buffer.from(String(fib(n))),
                { correlationId: msg.properties.correlationId });
            sch.ack(msg);
        });
        await withConn(async (conn) => {
            const ch = await conn.createChannel();
            const { queue } = await ch.assertQueue('', { exclusive: true });
            const replies = {};
            await ch.consume(queue, (m) => {
                if (m === null) return;
                replies[m.properties.correlationId] = parseInt(m.content.toString(), 10);
            }, { noAck: true });
            const ns = [0, 1, 5, 10, 25];
            for (const n of ns) {
                ch.sendToQueue(rpcQ, Buffer.from(String(n)),
                    { correlationId: `c${n}`, replyTo: queue });
            }
            await waitFor(() => ns.every((n) => `c${n}` in replies), 'rpc replies');
            for (const n of ns) assert.strictEqual(replies[`c${n}`], fib(n), `fib(${n})`);
        });
        await sch.deleteQueue(rpcQ);
    } finally {
        await server.close().catch(() => {});
    }
}

async function testConfirmChannel() {
    await withConn(async (conn) => {
        const ch = await conn.createConfirmChannel();
        const q = uniq('confirm');
        await ch.assertQueue(q, { durable: true });
        await ch.purgeQueue(q);
        let acked = 0;
        const n = 500;
        for (let i = 0; i < n; i++) {
            ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true }, (err) => {
                assert.ifError(err);
                acked += 1;
            });
        }
        await ch.waitForConfirms();
        assert.strictEqual(acked, n, 'every publish confirmed');
        assert.strictEqual((await ch.checkQueue(q)).messageCount, n);
        // Unroutable mandatory message: basic.return, then still confirmed.
        const returned = [];
        ch.on('return', (m) => returned.push(m));
        let confirmedReturn = false;
        ch.publish('', uniq('nowhere'), Buffer.from('lost'), { mandatory: true }, (err) => {
            assert.ifError(err);
            confirmedReturn = true;
        });
        await ch.waitForConfirms();
        assert.ok(confirmedReturn, 'unroutable message confirmed');
        await waitFor(() => returned.length === 1, 'basic.return');
        assert.strictEqual(returned[0].fields.replyCode, 312);
        assert.strictEqual(returned[0].fields.replyText, 'NO_ROUTE');
        assert.strictEqual(returned[0].content.toString(), 'lost');
        // get/ack through the same channel
        const m = await ch.get(q, { noAck: false });
        assert.ok(m, 'basic.get returned a message');
        assert.strictEqual(m.content.toString(), 'm0');
        assert.strictEqual(m.fields.messageCount, n - 1);
        ch.ack(m);
        assert.strictEqual((await ch.purgeQueue(q)).messageCount, n - 1);
        assert.strictEqual(await ch.get(q), false, 'get-empty');
        await ch.deleteQueue(q);
    });
}

async function testChannelError() {
    await withConn(async (conn) => {
        const ch = await conn.createChannel();
        const errors = [];
        ch.on('error', (e) => errors.push(e));
        await assert.rejects(ch.checkQueue(uniq('missing')), (e) => {
            assert.strictEqual(e.code, 404);
            assert.match(e.message, /NOT_FOUND - no queue/);
            return true;
        });
        await waitFor(() => errors.length === 1, 'channel error event');
        // The connection survives a channel error.
        const ch2 = await conn.createChannel();
        const { queue } = await ch2.assertQueue('', { exclusive: true });
        ch2.sendToQueue(queue, Buffer.from('ok'));
        let m = false;
        for (let i = 0; i < 100 && !m; i++) {
            m = await ch2.get(queue, { noAck: true });
            if (!m) await sleep(10);
        }
        assert.ok(m && m.content.toString() === 'ok', 'round trip after a channel error');
    });
}

// amqplib's mux can put connection.close on the wire before the last buffered publishes. The
// broker must still answer close-ok and let the client close (as RabbitMQ's reader does), not
// reset a client that is still writing: the close callback fires, no EPIPE.
async function burstThenClose(conn, q) {
    const ch = await conn.createChannel();
    await ch.assertQueue(q, { autoDelete: false });
    const body = Buffer.alloc(64, 'x');
    let n = 0;
    while (n < 2000) {
        n += 1;
        if (!ch.sendToQueue(q, body)) break;
    }
    return n;
}

async function testCloseAfterBurst() {
    const q = uniq('burst.promise');
    const conn = await amqp.connect(url);
    const errors = [];
    conn.on('error', (e) => errors.push(e));
    await burstThenClose(conn, q);
    const t0 = Date.now();
    await Promise.race([conn.close(),
        sleep(5000).then(() => { throw new Error('connection.close() did not resolve in 5 s'); })]);
    assert.deepStrictEqual(errors.map(String), [], 'no connection error');
    assert.ok(Date.now() - t0 < 2000, `close took ${Date.now() - t0} ms`);
    await withConn(async (c2) => { const ch = await c2.createChannel(); await ch.deleteQueue(q); });
}

async function testCloseAfterBurstCallbackApi() {
    const cbapi = require('amqplib/callback_api');
    const q = uniq('burst.callback');
    await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('close callback did not fire in 5 s')), 5000);
        cbapi.connect(url, (err, conn) => {
            if (err) return reject(err);
            const errors = [];
            conn.on('error', (e) => errors.push(e));
            conn.createChannel((err2, ch) => {
                if (err2) return reject(err2);
                ch.assertQueue(q, { autoDelete: false }, (err3) => {
                    if (err3) return reject(err3);
                    const body = Buffer.alloc(64, 'y');
                    for (let i = 0; i < 2000; i++) if (!ch.sendToQueue(q, body)) break;
                    conn.close((err4) => {
                        clearTimeout(timer);
                        if (err4) return reject(err4);
                        if (errors.length) return reject(new Error(`connection errors: ${errors}`));
                        resolve();
                    });
                });
            });
        });
    });
    await withConn(async (c2) => { const ch = await c2.createChannel(); await ch.deleteQueue(q); });
}

async function main() {
    const tests = [testHelloWorld, testWorkQueue, testFanout, testTopic, testRpc,
        testConfirmChannel, testChannelError, testCloseAfterBurst, testCloseAfterBurstCallbackApi];
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
