"""Damaged files in the data dir (docs/storage.md "Recovery"), through python3-pika. Each test
publishes persistent messages to a durable queue, stops warrend cleanly, damages a file, starts it
again and checks that it starts, says what it cut, and serves exactly the intact messages, each
byte-exact and in order:

- the newest segment cut in the middle of its last message record (a torn tail);
- one bit flipped in the body of the last message record (checksum mismatch at the tail);
- one bit flipped in the body of a record in the middle (skipped up to the next good record);
- garbage (random bytes, zeros) appended after the last record;
- a segment whose header is damaged (set aside as *.corrupt, not served);
- a corrupt topology.json (not JSON, empty, a field of the wrong type, a newer format_version):
  warrend refuses to start, exit code 1 and one clear line naming the file, and leaves the
  file as it is; with the good file back, everything is there. A stray topology.json.tmp is
  ignored.
The segment files are located and checked with an independent parser of the documented layout
(durability_util.parse_segment), so the damage lands where intended.
"""
import json
import os
import random
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from durability_util import (  # noqa: E402
    body, broker, check_body, connect, count, data_path, drain, expect_eq, message_records,
    needs_warrend, parse_segment, pika, run_tests, skippable, uniq)

N = 40


def _publish(b, q, ids):
    conn = connect(b)
    ch = conn.channel()
    ch.confirm_delivery()
    ch.queue_declare(q, durable=True)
    for i in ids:
        ch.basic_publish("", q, body("cor", i, 100 + (i * 977) % 6000),
                         pika.BasicProperties(delivery_mode=2, message_id=str(i)))
    conn.close()


def _setup(b, n=N):
    """A durable queue with n persistent messages, broker stopped. Returns (queue, records):
    records[i] = (segment path, Record) of message i."""
    needs_warrend(b, "damaging the data dir")
    q = uniq("cor")
    _publish(b, q, range(n))
    b.stop()
    recs = {}
    for path, r in message_records(b):
        tag, i = check_body(r.body)
        assert tag == "cor", f"unexpected record {r} in {path}"
        assert i not in recs, f"message {i} stored twice"
        recs[i] = (path, r)
    expect_eq(sorted(recs), list(range(n)), "message records found in the segments")
    return q, recs


def _start(b):
    """Starts the broker; returns the log written by this start."""
    before = len(b.log_text())
    b.start()
    return b.log_text()[before:]


def _expect_served(b, q, ids, what):
    conn = connect(b)
    ch = conn.channel()
    got = []
    for _m, p, bd in drain(ch, q, ack=False):
        tag, i = check_body(bd)       # byte-exact
        expect_eq(p.message_id, str(i), f"{what}: message_id")
        got.append(i)
    expect_eq(got, list(ids), f"{what}: messages served")
    conn.close()


def _flip_bit(path, offset, bit=3):
    with open(path, "r+b") as f:
        f.seek(offset)
        c = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([c ^ (1 << bit)]))


def _expect_log(log, pattern, what):
    assert re.search(pattern, log), f"{what}: no line matching {pattern!r} in the log:\n{log}"


def _still_works_after_restart(b, q, ids, new_id):
    """The repaired log keeps working: a new message, a clean restart, all there."""
    _publish(b, q, [new_id])
    b.restart()
    _expect_served(b, q, list(ids) + [new_id], "after a further restart")


@skippable
def test_torn_tail_mid_record():
    with broker() as b:
        q, recs = _setup(b)
        path, last = recs[N - 1]
        tail = parse_segment(path)[-1]
        assert tail.offset == last.offset, f"the last record of {path} is not message {N - 1}"
        cut = last.offset + last.size // 2
        os.truncate(path, cut)
        log = _start(b)
        name = re.escape(os.path.basename(path))
        _expect_log(log, rf"truncated record at \S*{name} offset {last.offset}: cutting off the "
                         rf"last {cut - last.offset} bytes", "torn tail")
        _expect_log(log, rf"torn_tails=1 bytes_truncated={cut - last.offset}\b", "summary")
        expect_eq(os.path.getsize(path), last.offset, "segment truncated at the torn record")
        _expect_served(b, q, range(N - 1), "after a torn tail")
        _still_works_after_restart(b, q, range(N - 1), 1000)


@skippable
def test_bit_flip_in_last_record():
    with broker() as b:
        q, recs = _setup(b)
        path, last = recs[N - 1]
        assert parse_segment(path)[-1].offset == last.offset, "message N-1 is not the tail"
        _flip_bit(path, last.body_offset + len(last.body) // 2)
        log = _start(b)
        name = re.escape(os.path.basename(path))
        _expect_log(log, rf"checksum mismatch at \S*{name} offset {last.offset}: cutting off "
                         rf"the last {last.size} bytes", "corrupt last record")
        _expect_log(log, rf"torn_tails=1 bytes_truncated={last.size}\b", "summary")
        _expect_served(b, q, range(N - 1), "after a bit flip in the last record")
        _still_works_after_restart(b, q, range(N - 1), 1000)


@skippable
def test_bit_flip_in_middle_record():
    with broker() as b:
        q, recs = _setup(b)
        k = N // 2
        path, r = recs[k]
        _flip_bit(path, r.body_offset + len(r.body) // 3, bit=6)
        log = _start(b)
        name = re.escape(os.path.basename(path))
        _expect_log(log, rf"checksum mismatch at \S*{name} offset {r.offset}: skipped {r.size} "
                         rf"bytes up to the next good record at offset {r.offset + r.size}",
                    "corrupt middle record")
        _expect_log(log, rf"corrupt_regions=1 bytes_skipped={r.size}\b", "summary")
        survivors = [i for i in range(N) if i != k]
        _expect_served(b, q, survivors, "after a bit flip in a middle record")
        _still_works_after_restart(b, q, survivors, 1000)


@skippable
def test_garbage_after_last_record():
    rng = random.Random(20240601)
    for what, garbage in (("random bytes", bytes(rng.randrange(256) for _ in range(777))),
                          ("zeros", bytes(4096)), ("a partial record header", b"\x01\x02\x03")):
        with broker() as b:
            q, recs = _setup(b)
            path, _last = recs[N - 1]
            size = os.path.getsize(path)
            with open(path, "ab") as f:
                f.write(garbage)
            log = _start(b)
            name = re.escape(os.path.basename(path))
            _expect_log(log, rf"(truncated record|garbage length|checksum mismatch) at \S*{name} "
                             rf"offset {size}: cutting off the last {len(garbage)} bytes", what)
            _expect_served(b, q, range(N), f"after appending {what}")
            _still_works_after_restart(b, q, range(N), 1000)


@skippable
def test_bad_segment_header_is_set_aside():
    with broker() as b:
        q, recs = _setup(b)
        path, _r = recs[0]
        assert all(p == path for p, _ in recs.values()), "expected one segment"
        _flip_bit(path, 2)                      # inside the magic "WRNSEG"
        log = _start(b)
        _expect_log(log, rf"segment \S*{re.escape(os.path.basename(path))} has a bad header",
                    "bad header")
        assert os.path.exists(path + ".corrupt"), "damaged segment not set aside as .corrupt"
        assert not os.path.exists(path), "damaged segment still in place"
        conn = connect(b)
        ch = conn.channel()
        expect_eq(count(ch, q), 0, "messages of a set-aside segment")
        conn.close()
        _still_works_after_restart(b, q, [], 1000)
        assert os.path.exists(path + ".corrupt"), "the .corrupt file must be kept"


def _refused_start(b, what):
    """Runs warrend on b's data dir expecting it to refuse: returns (rc, stderr)."""
    try:
        r = subprocess.run(b.args(), capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{what}: warrend started (still running after 20 s) instead of "
                             f"refusing") from None
    return r.returncode, r.stderr


@skippable
def test_corrupt_topology_refuses_to_start():
    with broker() as b:
        q, _recs = _setup(b, n=5)
        topo = data_path(b, "meta", "topology.json")
        with open(topo, "rb") as f:
            good = f.read()
        doc = json.loads(good)
        vh = next(i for i, v in enumerate(doc["vhosts"]) if v["name"] == "/")
        qi = next(i for i, x in enumerate(doc["vhosts"][vh]["queues"]) if x["name"] == q)
        wrong_type = json.loads(good)
        wrong_type["vhosts"][vh]["queues"][qi]["auto_delete"] = "no"
        newer = json.loads(good)
        newer["format_version"] = 2
        cases = [
            ("not JSON", b'{"format_version": 1, "vhosts": [', r"not a JSON object"),
            ("empty", b"", r"not a JSON object"),
            ("a field of the wrong type", json.dumps(wrong_type).encode(),
             rf"vhosts\[{vh}\]\.queues\[{qi}\]\.auto_delete: expected a boolean"),
            ("a newer format_version", json.dumps(newer).encode(),
             r"format_version 2; this Warren reads version 1 only\. Refusing to start"),
        ]
        for what, text, detail in cases:
            with open(topo, "wb") as f:
                f.write(text)
            rc, err = _refused_start(b, what)
            expect_eq(rc, 1, f"{what}: exit code (stderr: {err!r})")
            lines = [ln for ln in err.splitlines() if ln.startswith("warrend: ")]
            assert len(lines) == 1, f"{what}: expected one 'warrend: ...' line, got {err!r}"
            assert "topology.json" in lines[0] and re.search(detail, lines[0]), \
                f"{what}: unclear error line {lines[0]!r} (want topology.json and {detail!r})"
            with open(topo, "rb") as f:
                expect_eq(f.read(), text, f"{what}: topology.json must be left as it was")
        with open(topo, "wb") as f:
            f.write(good)
        with open(topo + ".tmp", "wb") as f:      # a save interrupted by a crash: ignored
            f.write(b"{ half a fi")
        b.start()
        _expect_served(b, q, range(5), "with the good topology.json back")


if __name__ == "__main__":
    run_tests([
        test_torn_tail_mid_record,
        test_bit_flip_in_last_record,
        test_bit_flip_in_middle_record,
        test_garbage_after_last_record,
        test_bad_segment_header_is_set_aside,
        test_corrupt_topology_refuses_to_start,
    ])
