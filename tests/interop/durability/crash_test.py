"""kill -9 of warrend, through python3-pika: what a publisher confirm or a declare-ok promised
survives a crash.

- test_declared_topology_and_confirmed_message_survive_kill: durable exchange, queue, binding and
  one confirmed persistent message, then SIGKILL right after the replies arrive: all there.
- test_kill_during_confirmed_publishing: several cycles of (pipelined confirmed publishing of
  persistent messages through a fanout to two durable queues + a manual-ack consumer on one of
  them) -> SIGKILL at a random moment 0.3-1.5 s in -> start -> take and ack part of the other
  queue -> clean restart. The queues accumulate across cycles. At the end both are drained.
  Asserted, per queue: every confirmed id was delivered at least once; a message delivered more
  than once was redelivered=True on every later copy (at-least-once, never a silent duplicate);
  no delivered id was never published; every body is byte-exact (it carries its id, size and a
  checksum, and the whole body is rebuilt and compared); messages acked before a clean stop never
  come back; what is taken right after a start comes in publish order; after the final drain
  and a clean restart both queues are empty.
The random seed is printed; DURABILITY_SEED=<n> replays one.
"""
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from durability_util import (  # noqa: E402
    BackgroundConsumer, ConfirmPublisher, body, broker, check_body, connect, consume, count,
    exists, expect_eq, needs_warrend, pika, run_tests, size_for, skippable, uniq, wait_for)

CYCLES = 6


@skippable
def test_declared_topology_and_confirmed_message_survive_kill():
    with broker() as b:
        needs_warrend(b, "kill -9")
        x, q = uniq("kill.x"), uniq("kill.q")
        conn = connect(b)
        ch = conn.channel()
        ch.confirm_delivery()
        ch.exchange_declare(x, "topic", durable=True)
        ch.queue_declare(q, durable=True, arguments={"x-max-length": 100})
        ch.queue_bind(q, x, "k.#")
        bd = body("kill", 1, 2000)
        ch.basic_publish(x, "k.1", bd, pika.BasicProperties(delivery_mode=2, message_id="m1"))
        b.kill()   # the confirm has arrived: no clean-up, no grace period
        b.start()
        conn = connect(b)
        assert exists(conn, exchange=x), "declared durable exchange lost in the crash"
        assert exists(conn, queue=q), "declared durable queue lost in the crash"
        ch = conn.channel()
        ch.queue_declare(q, durable=True, arguments={"x-max-length": 100})  # same args
        m, p, got = ch.basic_get(q, auto_ack=True)
        assert m is not None, "confirmed persistent message lost in the crash"
        expect_eq(got, bd, "body")
        expect_eq(p.message_id, "m1", "message_id")
        assert m.redelivered, "a message recovered after a crash must be redelivered=True"
        ch.confirm_delivery()
        ch.basic_publish(x, "k.2", b"routed", pika.BasicProperties(delivery_mode=2))
        m, _p, got = ch.basic_get(q, auto_ack=True)
        expect_eq(got, b"routed", "binding after the crash")
        conn.close()


@skippable
def test_committed_transaction_survives_kill_uncommitted_does_not():
    with broker() as b:
        needs_warrend(b, "kill -9")
        q = uniq("kill.tx")
        conn = connect(b)
        ch = conn.channel()
        ch.queue_declare(q, durable=True)
        ch.tx_select()
        for i in range(10):
            ch.basic_publish("", q, body("tx", i, 500), pika.BasicProperties(delivery_mode=2))
        ch.tx_commit()               # commit-ok: the ten are on disk
        for i in range(10, 15):      # published, never committed
            ch.basic_publish("", q, body("tx", i, 500), pika.BasicProperties(delivery_mode=2))
        ch2 = conn.channel()
        ch2.queue_declare(q, passive=True)   # a round trip: the broker has read the five
        b.kill()
        b.start()
        conn = connect(b)
        ch = conn.channel()
        got = []
        while True:
            m, _p, bd = ch.basic_get(q, auto_ack=True)
            if m is None:
                break
            got.append(check_body(bd)[1])
        expect_eq(got, list(range(10)), "committed messages after a crash")
        conn.close()


@skippable
def test_kill_during_declares():
    """Declares and deletes in a loop, SIGKILL at a random moment: every queue, exchange and
    binding whose declare-ok / bind-ok arrived exists afterwards (and routes), every one whose
    delete-ok arrived does not."""
    seed = int(os.environ.get("DURABILITY_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    with broker() as b:
        needs_warrend(b, "kill -9")
        base = uniq("decl")
        # "deleting_*": delete sent; "deleted_*": delete-ok received (in between: either way)
        done = {"declared": [], "deleting_q": [], "deleted_q": [], "deleting_x": [],
                "deleted_x": []}
        errors = []

        def declarer():
            try:
                c = connect(b)
                h = c.channel()
                i = 0
                while True:
                    x, q = f"{base}.x{i}", f"{base}.q{i}"
                    h.exchange_declare(x, "direct", durable=True)
                    h.queue_declare(q, durable=True, arguments={"x-max-length": i + 1})
                    h.queue_bind(q, x, f"k{i}")
                    done["declared"].append(i)
                    if i % 3 == 2:   # delete an earlier one
                        j = i - 2
                        done["deleting_q"].append(j)
                        h.queue_delete(f"{base}.q{j}")
                        done["deleted_q"].append(j)
                        done["deleting_x"].append(j)
                        h.exchange_delete(f"{base}.x{j}")
                        done["deleted_x"].append(j)
                    i += 1
            except Exception as e:  # noqa: BLE001 - the kill
                errors.append(e)

        t = threading.Thread(target=declarer, daemon=True)
        t.start()
        wait_for(lambda: len(done["declared"]) >= 3, timeout=15, what="first declares")
        time.sleep(rng.uniform(0.3, 1.0))     # the random moment of the crash
        b.kill()
        t.join(15)
        assert not t.is_alive() and errors, "declarer did not notice the kill"
        b.start()
        declared = list(done["declared"])
        deleted_q, deleted_x = set(done["deleted_q"]), set(done["deleted_x"])
        deleting = set(done["deleting_q"]) | set(done["deleting_x"])
        assert len(declared) >= 3, declared
        conn = connect(b)
        for i in declared:
            x, q = f"{base}.x{i}", f"{base}.q{i}"
            if i in deleted_q:
                assert not exists(conn, queue=q), f"seed {seed}: deleted queue {q} came back"
            elif i not in deleting:
                assert exists(conn, queue=q), f"seed {seed}: acknowledged queue {q} lost"
            if i in deleted_x:
                assert not exists(conn, exchange=x), f"seed {seed}: deleted exchange {x} came back"
            elif i not in deleting:
                assert exists(conn, exchange=x), f"seed {seed}: acknowledged exchange {x} lost"
        ch = conn.channel()
        ch.confirm_delivery()
        live = [i for i in declared if i not in deleting]
        for i in live:
            ch.queue_declare(f"{base}.q{i}", durable=True, arguments={"x-max-length": i + 1})
            ch.basic_publish(f"{base}.x{i}", f"k{i}", b"m%d" % i, pika.BasicProperties())
        for i in live:
            m, _p, bd = ch.basic_get(f"{base}.q{i}", auto_ack=True)
            expect_eq(bd, b"m%d" % i, f"seed {seed}: binding of {base}.x{i} after the crash")
        print(f"seed {seed}: {len(declared)} declared, {len(deleted_q)} deleted before the kill",
              flush=True)
        conn.close()


class Ledger:
    """Everything the test saw, per queue: deliveries[q][id] = [redelivered flags, in order]."""

    def __init__(self, queues, seed):
        self.seed = seed
        self.deliveries = {q: {} for q in queues}
        self.acked_clean = {q: set() for q in queues}  # acked, then a clean stop
        self.published, self.confirmed, self.nacked = set(), set(), set()

    def record(self, q, m, p, bd):
        tag, i = check_body(bd)
        assert tag == "crash", f"seed {self.seed}: foreign body {tag!r} in {q}"
        expect_eq(p.message_id, str(i), f"seed {self.seed}: message_id of #{i}")
        expect_eq(p.delivery_mode, 2, f"seed {self.seed}: delivery_mode of #{i}")
        assert i not in self.acked_clean[q], (
            f"seed {self.seed}: #{i} was acked on {q} before a clean stop, yet came back "
            f"(redelivered={m.redelivered})")
        self.deliveries[q].setdefault(i, []).append(bool(m.redelivered))
        return i

    def check(self):
        s = self.seed
        assert self.confirmed, f"seed {s}: nothing was ever confirmed"
        for q, d in self.deliveries.items():
            missing = sorted(self.confirmed - d.keys())
            assert not missing, (f"seed {s}: {len(missing)} confirmed messages never delivered "
                                 f"from {q}, e.g. {missing[:10]}")
            phantom = sorted(d.keys() - self.published)
            assert not phantom, f"seed {s}: ids never published delivered from {q}: {phantom[:10]}"
            silent = sorted(i for i, flags in d.items() if not all(flags[1:]))
            assert not silent, (
                f"seed {s}: delivered again without redelivered=True from {q}: "
                f"{[(i, d[i]) for i in silent[:10]]} (confirmed: "
                f"{[i in self.confirmed for i in silent[:10]]})")


def _expect_publish_order(ids, what):
    """Right after a (re)start a queue holds its messages in publish order (recovery restores
    that order; the single publisher appends in order)."""
    bad = [(a, b) for a, b in zip(ids, ids[1:]) if b <= a]
    assert not bad, f"{what}: not in publish order, e.g. {bad[:5]}"


@skippable
def test_kill_during_confirmed_publishing():
    seed = int(os.environ.get("DURABILITY_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"seed {seed}", flush=True)
    with broker() as b:
        needs_warrend(b, "kill -9")
        x, qa, qb = uniq("crash.fan"), uniq("crash.a"), uniq("crash.b")
        conn = connect(b)
        ch = conn.channel()
        ch.exchange_declare(x, "fanout", durable=True)
        for q in (qa, qb):
            ch.queue_declare(q, durable=True)
            ch.queue_bind(q, x)
        conn.close()
        led = Ledger((qa, qb), seed)

        def make(i):
            return (x, "", body("crash", i, size_for(i, 16, 1500)),
                    pika.BasicProperties(delivery_mode=2, message_id=str(i)))

        next_id = 0
        stats = []
        for cycle in range(CYCLES):
            pub = ConfirmPublisher(b, make, first=next_id, window=300).start(timeout=60)
            cons = BackgroundConsumer(b, qa, lambda m, p, bd: led.record(qa, m, p, bd)).start()
            assert pub.first_confirm.wait(15), f"seed {seed}: no confirm within 15 s"
            assert pub.error is None, f"seed {seed}: publisher failed early: {pub.error!r}"
            time.sleep(rng.uniform(0.3, 1.5))    # the random moment of the crash
            b.kill()
            pub.join()
            cons.join()
            if isinstance(cons.error, AssertionError):
                raise cons.error   # a bad delivery seen by the background consumer
            assert pub.error is not None, "publisher did not notice the kill"
            assert cons.error is not None, "consumer did not notice the kill"
            led.published.update(pub.published)
            led.confirmed.update(pub.confirmed)
            led.nacked.update(pub.nacked)
            next_id = pub.next_i
            b.start()

            # take about half of qb, acking; then a clean stop makes those acks durable
            conn = connect(b)
            ch = conn.channel()
            in_b = count(ch, qb)
            taken = []
            consume(ch, qb, in_b // 2, lambda m, p, bd: taken.append(led.record(qb, m, p, bd)))
            conn.close()
            _expect_publish_order(taken, f"seed {seed}: cycle {cycle}, taken from {qb}")
            b.restart()
            led.acked_clean[qb].update(taken)
            stats.append((len(pub.published), len(pub.confirmed), pub.outstanding, cons.received,
                          in_b, len(taken)))

        # drain everything, then a clean restart: both queues must be empty
        conn = connect(b)
        ch = conn.channel()
        for q in (qa, qb):
            n = count(ch, q)
            ch2 = conn.channel()
            taken = []
            consume(ch2, q, n, lambda m, p, bd, q=q: taken.append(led.record(q, m, p, bd)))
            ch2.close()
            _expect_publish_order(taken, f"seed {seed}: final drain of {q}")
            led.acked_clean[q].update(taken)
        conn.close()
        print(f"seed {seed}: per cycle (published, confirmed, unconfirmed at kill, consumed "
              f"from a, in b, taken from b): {stats}", flush=True)
        led.check()
        b.restart()
        conn = connect(b)
        ch = conn.channel()
        for q in (qa, qb):
            expect_eq(count(ch, q), 0, f"seed {seed}: {q} after draining and a clean restart")
        conn.close()


if __name__ == "__main__":
    run_tests([
        test_declared_topology_and_confirmed_message_survive_kill,
        test_committed_transaction_survives_kill_uncommitted_does_not,
        test_kill_during_declares,
        test_kill_during_confirmed_publishing,
    ])
