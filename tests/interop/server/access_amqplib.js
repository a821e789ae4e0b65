// amqplib (promise API) against users and permissions made by access_amqplib.py: what alice
// may do works, and each refusal arrives as RabbitMQ words it. Exit code 0 = all passed.
const amqp = require('amqplib');

const port = process.argv[2];
const base = `amqp://alice:pw@127.0.0.1:${port}`;
let failures = 0;

function check(ok, what) {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

async function refusedWith(promise, text) {
  try {
    await promise;
    return 'no error';
  } catch (e) {
    return e.message.includes(text) ? true : e.message;
  }
}

async function main() {
  const c = await amqp.connect(`${base}/v1`);
  c.on('error', () => {});
  const ch = await c.createChannel();
  await ch.assertQueue('alice-js');
  ch.sendToQueue('alice-js', Buffer.from('hi'));
  let got = false;
  for (let i = 0; i < 50 && !got; i++) {
    const m = await ch.get('alice-js', {noAck: true});
    if (m) got = m.content.toString() === 'hi';
    else await new Promise((r) => setTimeout(r, 20));
  }
  check(got, 'alice declares, publishes to and gets from alice-js');

  const ch2 = await c.createChannel();
  ch2.on('error', () => {});
  let r = await refusedWith(ch2.assertQueue('bob-js'),
      "403 (ACCESS-REFUSED) with message \"ACCESS_REFUSED - access to queue 'bob-js' in " +
      "vhost 'v1' refused for user 'alice'\"");
  check(r === true, `declare of bob-js refused with 403 (${r})`);

  const cc = await c.createConfirmChannel();
  const closedWith = new Promise((resolve) => {
    cc.on('error', (e) => resolve(e.message));
    setTimeout(() => resolve('no channel error within 3 s'), 3000);
  });
  cc.publish('amq.direct', 'k', Buffer.from('x'));
  r = await closedWith;
  check(r.includes("403 (ACCESS-REFUSED) with message \"ACCESS_REFUSED - access to exchange " +
                   "'amq.direct' in vhost 'v1' refused for user 'alice'\""),
        `publish to amq.direct closes the channel with 403 (${r})`);

  const ch3 = await c.createChannel();
  ch3.on('error', () => {});
  r = await refusedWith(ch3.bindQueue('alice-js', 'amq.direct', 'k'),
      "access to exchange 'amq.direct' in vhost 'v1' refused for user 'alice'");
  check(r === true, `bind from amq.direct refused for read (${r})`);
  await c.close();

  // amqplib reports a refused connection.open without its text.
  r = await refusedWith(amqp.connect(`${base}/%2F`), 'got <ConnectionClose channel:0>');
  check(r === true, `no access to vhost / (${r})`);
  r = await refusedWith(amqp.connect(`amqp://alice:wrong@127.0.0.1:${port}/v1`), 'ACCESS');
  check(r === true, `wrong password refused (${r})`);
}

main().then(() => process.exit(failures ? 1 : 0), (e) => {
  console.log('FAIL', e);
  process.exit(1);
});
