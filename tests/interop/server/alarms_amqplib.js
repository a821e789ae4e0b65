// amqplib against a broker under a resource alarm (alarms_amqplib.py sets and clears it): the
// connection emits 'blocked' with RabbitMQ's reason after its first publish, and 'unblocked'
// when the alarm clears, after which the publishes held meanwhile arrive. Exit code 0 = passed.
const amqp = require('amqplib');
const fs = require('fs');

const [port, signalFile] = process.argv.slice(2);
let failures = 0;

function check(ok, what) {
  console.log(`${ok ? 'PASS' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, ms) {
  for (let t = 0; t < ms && !pred(); t += 20) await sleep(20);
  return pred();
}

async function main() {
  const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  const events = [];
  c.on('blocked', (reason) => events.push(`blocked:${reason}`));
  c.on('unblocked', () => events.push('unblocked'));
  const watcher = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  const wch = await watcher.createChannel();
  await wch.assertQueue('alarm-js');
  await wch.purgeQueue('alarm-js');
  const ch = await c.createChannel();
  ch.sendToQueue('alarm-js', Buffer.from('first'));
  check(await waitFor(() => events.length > 0, 5000) && events[0] === 'blocked:low on memory',
      `'blocked' with reason "low on memory" (${events})`);
  for (let i = 0; i < 10; i++) ch.sendToQueue('alarm-js', Buffer.from(`held ${i}`));
  await sleep(500);
  let q = await wch.checkQueue('alarm-js');
  check(q.messageCount === 1, `publishes after the block are not read (${q.messageCount} in queue)`);
  fs.writeFileSync(signalFile, 'clear');  // alarms_amqplib.py clears the alarm
  check(await waitFor(() => events.includes('unblocked'), 10000), `'unblocked' (${events})`);
  let n = 0;
  for (let t = 0; t < 5000 && n !== 11; t += 50) {
    n = (await wch.checkQueue('alarm-js')).messageCount;
    if (n !== 11) await sleep(50);
  }
  check(n === 11, `the held publishes arrive after unblocked (${n} in queue)`);
  await c.close();
  await watcher.close();
}

main().then(() => process.exit(failures ? 1 : 0), (e) => {
  console.log(`FAIL ${e.stack || e}`);
  process.exit(1);
});
