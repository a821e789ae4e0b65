"""warrenctl (issue #14) against a real warrend: every command, its output (rabbitmqctl's
tab-separated tables, --format json, -q, --no-table-headers) and its exit codes, including the
failures scripts rely on: wrong password 77, nothing listening 69, usage 64, a missing object
65, a missing user 67, await_startup timing out 75, a failed health check 1.

Run one test: python3 warrenctl_test.py test_name (WARRENCTL= a binary, else $WARREN_BUILD)."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tls"))

import pika  # noqa: E402

from harness import Broker, broker, free_port, run_tests, scaled  # noqa: E402

B = {}


def warrenctl_path():
    if os.environ.get("WARRENCTL"):
        return os.environ["WARRENCTL"]
    build = os.environ.get("WARREN_BUILD")
    if not build:
        root = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
        build = os.path.join(root, "build", "release")
    path = os.path.join(build, "warrenctl")
    if not os.path.exists(path):
        raise RuntimeError(f"warrenctl not found at {path}: build it or set WARRENCTL")
    return path


def ctl(*args, port=None, user=None, password=None, env=None, stdin=None, timeout=60):
    """Runs warrenctl against the test's broker; returns (exit code, stdout, stderr)."""
    b = B.get("b")
    cmd = [warrenctl_path()]
    if port is None and b is not None:
        port = b.http_port
    if port is not None:
        cmd += ["--port", str(port)]
    if user is not None:
        cmd += ["-u", user]
    if password is not None:
        cmd += ["--password", password]
    cmd += list(args)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WARREN_")}
    full_env.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin,
                       env=full_env)
    return p.returncode, p.stdout, p.stderr


def ok(*args, **kw):
    rc, out, err = ctl(*args, **kw)
    assert rc == 0, f"warrenctl {' '.join(args)} -> {rc}\n{out}\n{err}"
    return out


def expect(code, *args, **kw):
    rc, out, err = ctl(*args, **kw)
    assert rc == code, f"warrenctl {' '.join(args)} -> {rc}, expected {code}\n{out}\n{err}"
    if code != 0:
        assert err.startswith("Error") or code == 1, err
    return out, err


def table(out):
    """Tab-separated rows of a -q listing (header first)."""
    return [line.split("\t") for line in out.splitlines()]


def connect(user="guest", password="guest", vhost="/"):
    b = B["b"]
    return pika.BlockingConnection(pika.ConnectionParameters(
        b.host, b.amqp_port, vhost, pika.PlainCredentials(user, password),
        connection_attempts=1))


def test_list_queues_prints_rabbitmqctls_columns():
    conn = connect()
    ch = conn.channel()
    ch.queue_declare("ctl-q1", durable=True)
    ch.queue_declare("ctl-q2")
    for i in range(3):
        ch.basic_publish("", "ctl-q1", b"m%d" % i)
    ch.basic_consume("ctl-q2", lambda *a: None)
    try:
        out = ok("list_queues")
        lines = out.splitlines()
        assert lines[0] == "Listing queues for vhost / ...", lines
        assert lines[1] == "name\tmessages", lines
        rows = {r[0]: r for r in table("\n".join(lines[1:]))[1:]}
        assert rows["ctl-q1"] == ["ctl-q1", "3"], rows
        out = ok("-q", "list_queues", "name", "messages", "consumers", "durable")
        rows = table(out)
        assert rows[0] == ["name", "messages", "consumers", "durable"], rows
        by_name = {r[0]: r for r in rows[1:]}
        assert by_name["ctl-q1"] == ["ctl-q1", "3", "0", "true"], by_name
        assert by_name["ctl-q2"] == ["ctl-q2", "0", "1", "false"], by_name
        # --no-table-headers and -q: rows only.
        rows = table(ok("list_queues", "name", "-q", "--no-table-headers"))
        assert ["name"] not in rows and ["ctl-q1"] in rows, rows
        # JSON: an array of objects with the asked columns only, no banner.
        items = json.loads(ok("list_queues", "name", "messages", "--format", "json"))
        assert {"name": "ctl-q1", "messages": 3} in items, items
        assert all(set(i) == {"name", "messages"} for i in items), items
        # An unknown column is a usage error, as in rabbitmqctl.
        out, err = expect(64, "list_queues", "name", "colour")
        assert "colour" in err, err
    finally:
        conn.close()
        ok("delete_queue", "ctl-q1")
        ok("delete_queue", "ctl-q2")


def test_list_exchanges_bindings_consumers_connections_channels():
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare("ctl-x", "topic", durable=True)
    ch.queue_declare("ctl-bq")
    ch.queue_bind("ctl-bq", "ctl-x", "a.#")
    ch.basic_qos(prefetch_count=7)
    ch.basic_consume("ctl-bq", lambda *a: None, consumer_tag="ctl-tag")
    try:
        rows = table(ok("-q", "list_exchanges"))
        assert rows[0] == ["name", "type"] and ["ctl-x", "topic"] in rows, rows
        rows = table(ok("-q", "list_exchanges", "name", "durable", "internal"))
        assert ["ctl-x", "true", "false"] in rows, rows
        rows = table(ok("-q", "list_bindings"))
        assert rows[0] == ["source_name", "source_kind", "destination_name", "destination_kind",
                           "routing_key", "arguments"], rows
        assert ["ctl-x", "exchange", "ctl-bq", "queue", "a.#", "{}"] in rows, rows
        assert ["", "exchange", "ctl-bq", "queue", "ctl-bq", "{}"] in rows, rows
        rows = table(ok("-q", "list_consumers"))
        assert rows[0] == ["queue_name", "channel_pid", "consumer_tag", "ack_required",
                           "prefetch_count", "active", "arguments"], rows
        mine = [r for r in rows if r[2] == "ctl-tag"]
        assert len(mine) == 1 and mine[0][0] == "ctl-bq" and mine[0][4] == "7", rows
        rows = table(ok("-q", "list_connections", "name", "user", "protocol", "channels"))
        assert rows[0] == ["name", "user", "protocol", "channels"], rows
        assert any(r[1] == "guest" and r[2] == "AMQP 0-9-1" and r[3] == "1" for r in rows[1:])
        rows = table(ok("-q", "list_connections"))
        assert rows[0] == ["user", "peer_host", "peer_port", "state"], rows
        assert any(r[0] == "guest" and r[1] == "127.0.0.1" for r in rows[1:]), rows
        rows = table(ok("-q", "list_channels"))
        assert rows[0] == ["name", "user", "consumer_count", "messages_unacknowledged"], rows
        assert any(r[1] == "guest" and r[2] == "1" for r in rows[1:]), rows
        items = json.loads(ok("list_channels", "prefetch_count", "connection", "-f", "json"))
        assert any(i["prefetch_count"] == 7 and " -> " in i["connection"] for i in items), items
    finally:
        conn.close()
        ok("delete_queue", "ctl-bq")
        c = connect()
        c.channel().exchange_delete("ctl-x")
        c.close()


def test_users_tags_passwords_and_permissions():
    out = ok("add_user", "ctl-bob", "pw1")
    assert out == 'Adding user "ctl-bob" ...\n', out
    expect(70, "add_user", "ctl-bob", "other")  # user_already_exists, as rabbitmqctl
    assert ok("-q", "add_user", "ctl-amy", "pw") == ""
    ok("set_user_tags", "ctl-bob", "monitoring", "policymaker")
    rows = table(ok("-q", "list_users"))
    assert rows[0] == ["user", "tags"], rows
    assert ["ctl-bob", "[monitoring, policymaker]"] in rows, rows
    assert ["ctl-amy", "[]"] in rows, rows
    users = json.loads(ok("list_users", "--format", "json"))
    assert {"user": "ctl-bob", "tags": ["monitoring", "policymaker"]} in users, users
    # Tags changed, the password kept: ctl-bob still logs in with pw1.
    ok("check_running", user="ctl-bob", password="pw1")
    ok("change_password", "ctl-bob", "pw2")
    expect(77, "check_running", user="ctl-bob", password="pw1")
    ok("check_running", user="ctl-bob", password="pw2")
    # Tags survive a password change.
    assert ["ctl-bob", "[monitoring, policymaker]"] in table(ok("-q", "list_users"))
    ok("set_permissions", "ctl-bob", "^ctl-", "^ctl-w", ".*")
    rows = table(ok("-q", "list_permissions"))
    assert rows[0] == ["user", "configure", "write", "read"], rows
    assert ["ctl-bob", "^ctl-", "^ctl-w", ".*"] in rows, rows
    rows = table(ok("-q", "list_user_permissions", "ctl-bob"))
    assert rows == [["vhost", "configure", "write", "read"], ["/", "^ctl-", "^ctl-w", ".*"]], rows
    ok("clear_permissions", "ctl-bob")
    rows = table(ok("-q", "list_user_permissions", "ctl-bob"))
    assert rows == [["vhost", "configure", "write", "read"]], rows
    # Missing users: 67 (EX_NOUSER), as rabbitmqctl.
    for args in (("delete_user", "ctl-ghost"), ("change_password", "ctl-ghost", "x"),
                 ("set_user_tags", "ctl-ghost", "a"), ("list_user_permissions", "ctl-ghost"),
                 ("set_permissions", "ctl-ghost", ".*", ".*", ".*"),
                 ("clear_permissions", "ctl-ghost")):
        expect(67, *args)
    # A permission in a missing vhost: 65 (EX_DATAERR).
    expect(65, "set_permissions", "-p", "ctl-no-vhost", "ctl-bob", ".*", ".*", ".*")
    ok("delete_user", "ctl-bob")
    ok("delete_user", "ctl-amy")
    expect(67, "delete_user", "ctl-bob")


def test_vhosts():
    ok("add_vhost", "ctl-vh")
    assert ["ctl-vh"] in table(ok("-q", "list_vhosts"))
    rows = table(ok("-q", "list_vhosts", "name", "messages"))
    assert ["ctl-vh", "0"] in rows, rows
    ok("set_permissions", "-p", "ctl-vh", "guest", ".*", ".*", ".*")
    conn = connect(vhost="ctl-vh")
    conn.channel().queue_declare("in-vh")
    conn.close()
    rows = table(ok("-q", "list_queues", "-p", "ctl-vh"))
    assert rows == [["name", "messages"], ["in-vh", "0"]], rows
    assert ["in-vh", "0"] not in table(ok("-q", "list_queues"))
    rows = table(ok("-q", "list_permissions", "-p", "ctl-vh"))
    assert rows == [["user", "configure", "write", "read"], ["guest", ".*", ".*", ".*"]], rows
    env_rows = table(ok("-q", "list_queues", env={"WARREN_VHOST": "ctl-vh"}))
    assert ["in-vh", "0"] in env_rows, env_rows
    ok("delete_vhost", "ctl-vh")
    expect(65, "delete_vhost", "ctl-vh")
    expect(65, "list_queues", "-p", "ctl-vh")
    assert ["ctl-vh"] not in table(ok("-q", "list_vhosts"))


def test_purge_and_delete_queue():
    conn = connect()
    ch = conn.channel()
    ch.queue_declare("ctl-purge")
    for i in range(5):
        ch.basic_publish("", "ctl-purge", b"x")
    out = ok("purge_queue", "ctl-purge")
    assert out == "Purging queue 'ctl-purge' in vhost '/' ...\n", out
    assert ch.queue_declare("ctl-purge", passive=True).method.message_count == 0
    ch.basic_publish("", "ctl-purge", b"x")
    ch.basic_publish("", "ctl-purge", b"y")
    time.sleep(0.2)
    # --if-empty on a queue with messages: refused, the queue stays.
    expect(65, "delete_queue", "ctl-purge", "--if-empty")
    assert ch.queue_declare("ctl-purge", passive=True).method.message_count == 2
    out = ok("-q", "delete_queue", "ctl-purge")
    assert out == "Queue was successfully deleted with 2 messages\n", out
    conn.close()
    # Missing queues: 65. (rabbitmqctl's delete_queue alone says 64; see docs/warrenctl.md.)
    expect(65, "purge_queue", "ctl-purge")
    expect(65, "delete_queue", "ctl-purge")
    expect(64, "delete_queue")


def test_close_connection():
    conn = connect()
    rows = table(ok("-q", "list_connections", "name", "user"))
    names = [r[0] for r in rows[1:] if r[1] == "guest"]
    assert len(names) == 1, rows
    out = ok("close_connection", names[0], "maintenance window")
    assert out.startswith(f"Closing connection {names[0]}, reason: maintenance window"), out
    deadline = time.monotonic() + 5
    closed = None
    while time.monotonic() < deadline and closed is None:
        try:
            conn.process_data_events(time_limit=0.2)
        except pika.exceptions.ConnectionClosedByBroker as e:
            closed = e
    assert closed is not None and closed.reply_code == 320, closed
    assert "maintenance window" in closed.reply_text, closed.reply_text
    expect(65, "close_connection", names[0], "again")


def test_export_definitions():
    conn = connect()
    conn.channel().queue_declare("ctl-def-q", durable=True)
    conn.close()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "defs.json")
        out = ok("export_definitions", path)
        assert out.startswith("Exporting definitions in JSON to a file at"), out
        with open(path) as f:
            defs = json.load(f)
        assert "ctl-def-q" in [q["name"] for q in defs["queues"]], defs
        assert "guest" in [u["name"] for u in defs["users"]], defs
        stdout_defs = json.loads(ok("export_definitions", "-"))
        assert stdout_defs["queues"] == defs["queues"]
        expect(70, "export_definitions", os.path.join(d, "no-such-dir", "x.json"))
        # Import refuses what is not definitions before sending anything.
        bad = os.path.join(d, "bad.json")
        with open(bad, "w") as f:
            f.write("{not json")
        expect(65, "import_definitions", bad)
        expect(65, "import_definitions", os.path.join(d, "missing.json"))
        expect(65, "import_definitions", "-", stdin="[1, 2]")
    ok("delete_queue", "ctl-def-q")


def test_import_definitions():
    """Needs POST /api/definitions."""
    exported = json.loads(ok("export_definitions", "-"))
    guest = [u for u in exported["users"] if u["name"] == "guest"][0]
    defs = {"users": [{"name": "ctl-imported", "password_hash": guest["password_hash"],
                       "hashing_algorithm": guest["hashing_algorithm"],
                       "tags": ["management"]}],
            "vhosts": [{"name": "ctl-imp-vh"}],
            # guest's permission too: Warren's import declares the queues as the importing
            # user, who needs access to the new vhost (RabbitMQ's import does not).
            "permissions": [{"user": "ctl-imported", "vhost": "ctl-imp-vh", "configure": ".*",
                             "write": ".*", "read": ".*"},
                            {"user": "guest", "vhost": "ctl-imp-vh", "configure": ".*",
                             "write": ".*", "read": ".*"}],
            "queues": [{"name": "ctl-imp-q", "vhost": "ctl-imp-vh", "durable": True,
                        "auto_delete": False, "arguments": {}}],
            "exchanges": [], "bindings": [], "policies": []}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "defs.json")
        with open(path, "w") as f:
            json.dump(defs, f)
        out = ok("import_definitions", path)
        assert out.startswith("Importing definitions in JSON from a file at"), out
    assert ["ctl-imp-vh"] in table(ok("-q", "list_vhosts"))
    assert ["ctl-imported", "[management]"] in table(ok("-q", "list_users"))
    assert ["ctl-imp-q", "0"] in table(ok("-q", "list_queues", "-p", "ctl-imp-vh"))
    # The imported hash is guest's: the new user logs in with guest's password.
    ok("-p", "ctl-imp-vh", "list_queues", user="ctl-imported", password="guest")
    expect(65, "import_definitions", "-", stdin="not json")
    ok("delete_vhost", "ctl-imp-vh")
    ok("delete_user", "ctl-imported")
    ok("import_definitions", "-", stdin=json.dumps({"vhosts": [{"name": "ctl-imp-2"}]}))
    ok("delete_vhost", "ctl-imp-2")


def test_policies():
    """Needs /api/policies and /api/operator-policies."""
    out = ok("set_policy", "ctl-ttl", "^ctl-", '{"message-ttl": 60000}', "--priority", "3",
             "--apply-to", "queues")
    assert out.startswith('Setting policy "ctl-ttl" for pattern "^ctl-"'), out
    rows = table(ok("-q", "list_policies"))
    assert rows[0] == ["vhost", "name", "pattern", "apply-to", "definition", "priority"], rows
    assert ["/", "ctl-ttl", "^ctl-", "queues", '{"message-ttl":60000}', "3"] in rows, rows
    items = json.loads(ok("list_policies", "name", "definition", "--format", "json"))
    assert {"name": "ctl-ttl", "definition": {"message-ttl": 60000}} in items, items
    ok("clear_policy", "ctl-ttl")
    assert len(table(ok("-q", "list_policies"))) == 1
    expect(65, "clear_policy", "ctl-ttl")
    expect(65, "set_policy", "p", ".*", "{not json")
    expect(64, "set_policy", "p", ".*")
    ok("set_operator_policy", "ctl-cap", ".*", '{"max-length": 100}', "--apply-to", "queues")
    rows = table(ok("-q", "list_operator_policies", "name", "pattern"))
    assert ["ctl-cap", ".*"] in rows, rows
    ok("clear_operator_policy", "ctl-cap")
    expect(65, "clear_operator_policy", "ctl-cap")


def test_status_ping_and_health_checks():
    b = B["b"]
    rows = dict(line.split("\t", 1) for line in ok("-q", "status").splitlines())
    assert rows["product_name"] == "Warren", rows
    assert rows["node"].startswith("warren@"), rows
    assert f"amqp 127.0.0.1:{b.amqp_port}" in rows["listeners"], rows
    assert int(rows["uptime_seconds"]) >= 0 and int(rows["mem_used"]) > 0, rows
    s = json.loads(ok("status", "--format", "json"))
    assert s["product_name"] == "Warren" and isinstance(s["queues"], int), s
    assert ok("ping").endswith("Ping succeeded\n")
    ok("check_running")
    for c in ("check_alarms", "check_local_alarms", "check_virtual_hosts",
              "check_if_node_is_quorum_critical", "check_if_node_is_mirror_sync_critical"):
        out = ok(c)
        assert out == f"{c}: ok\n", out
        assert json.loads(ok(c, "--format", "json"))["status"] == "ok"
    ok("check_port_listener", str(b.amqp_port))
    ok("check_port_listener", str(b.http_port))
    # A check that runs and fails: exit 1, the reason on stderr.
    unused = free_port()
    rc, out, err = ctl("check_port_listener", str(unused))
    assert rc == 1 and "No active listener" in err, (rc, out, err)
    rc, out, _ = ctl("check_port_listener", str(unused), "--format", "json")
    assert rc == 1 and json.loads(out)["missing"] == unused, out
    expect(65, "check_port_listener", "amqp")
    ok("await_startup")
    ok("await_startup", "--timeout", "5")


def test_login_and_tag_failures_exit_77():
    expect(77, "list_queues", password="wrong")
    out, err = expect(77, "status", user="nobody-here", password="x")
    assert "nobody-here" in err, err
    ok("add_user", "ctl-mgmt", "pw")
    ok("set_user_tags", "ctl-mgmt", "management")
    ok("set_permissions", "ctl-mgmt", ".*", ".*", ".*")
    ok("list_queues", user="ctl-mgmt", password="pw")
    # Administrator-only endpoints refuse a management user.
    expect(77, "list_users", user="ctl-mgmt", password="pw")
    expect(77, "add_vhost", "ctl-nope", user="ctl-mgmt", password="pw")
    expect(77, "export_definitions", "-", user="ctl-mgmt", password="pw")
    # await_startup stops at a login failure rather than waiting out its timeout.
    t0 = time.monotonic()
    expect(77, "await_startup", "--timeout", "30", password="wrong")
    assert time.monotonic() - t0 < scaled(10)
    ok("delete_user", "ctl-mgmt")


def test_usage_errors_exit_64():
    for args in (("no_such_command",), (), ("add_user", "only-name"),
                 ("add_user", "a", "b", "c"), ("status", "extra"), ("list_queues", "--bogus"),
                 ("--format", "yaml", "list_queues"), ("purge_queue", "q", "--if-empty"),
                 ("list_queues", "--priority", "1"), ("set_permissions", "u", ".*")):
        rc, out, err = ctl(*args)
        assert rc == 64, (args, rc, out, err)
        assert "Error:" in err, (args, err)
    rc, out, err = ctl("--help")
    assert rc == 0 and "list_queues" in out and "await_startup" in out, (rc, out)


def test_environment_variables_choose_the_broker():
    b = B["b"]
    env = {"WARREN_HOST": "127.0.0.1", "WARREN_PORT": str(b.http_port),
           "WARREN_USERNAME": "guest", "WARREN_PASSWORD": "guest"}
    p = subprocess.run([warrenctl_path(), "-q", "list_vhosts"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert p.returncode == 0 and ["/"] in table(p.stdout), (p.returncode, p.stdout, p.stderr)
    env["WARREN_PASSWORD"] = "wrong"
    p = subprocess.run([warrenctl_path(), "list_vhosts"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert p.returncode == 77, (p.returncode, p.stderr)


def test_node_down_exits_69_silent_node_75_and_await_startup_75():
    dead = free_port()
    for args in (("status",), ("list_queues",), ("ping",), ("check_alarms",),
                 ("add_user", "a", "b")):
        rc, out, err = ctl(*args, port=dead)
        assert rc == 69, (args, rc, out, err)
        assert "cannot connect" in err, err
    # A listener that accepts and never answers: the request times out, 75 (EX_TEMPFAIL).
    import socket
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        t0 = time.monotonic()
        rc, out, err = ctl("--timeout", "1", "status", port=silent.getsockname()[1])
        assert rc == 75 and "no reply" in err, (rc, out, err)
        assert time.monotonic() - t0 < scaled(10)
    t0 = time.monotonic()
    rc, out, err = ctl("await_startup", "--timeout", "1.5", port=dead)
    took = time.monotonic() - t0
    assert rc == 75, (rc, out, err)
    assert 1.2 < took < scaled(10), took


def test_await_startup_waits_for_a_starting_node():
    b = Broker(stomp=False)
    starter = threading.Timer(1.5, b.start)
    starter.start()
    try:
        t0 = time.monotonic()
        rc, out, err = ctl("await_startup", "--timeout", "30", port=b.http_port)
        took = time.monotonic() - t0
        assert rc == 0, (rc, out, err)
        assert took >= 1.0, took
    finally:
        starter.join()
        b.close()


def test_https_with_cacert_and_insecure():
    from tls_util import certs, tls_broker
    with certs() as c, tls_broker(c, verify="none") as b:
        port = b.https_port
        out = ok("--ssl", "--cacert", c.path("ca.pem"), "-q", "list_vhosts", port=port)
        assert ["/"] in table(out), out
        ok("--insecure", "check_running", port=port)
        # Without the CA, the server's certificate is not trusted: the node is not reachable.
        rc, out, err = ctl("--ssl", "check_running", port=port)
        assert rc == 69 and "TLS" in err, (rc, out, err)
        # Plain HTTP to the HTTPS port gets no HTTP reply.
        rc, out, err = ctl("check_running", "--timeout", "5", port=port)
        assert rc in (69, 75), (rc, out, err)
        # A CA file that does not exist is a usage error.
        rc, _, err = ctl("--cacert", "/no/such/ca.pem", "status", port=port)
        assert rc == 64, (rc, err)


if __name__ == "__main__":
    shared = [test_list_queues_prints_rabbitmqctls_columns,
              test_list_exchanges_bindings_consumers_connections_channels,
              test_users_tags_passwords_and_permissions, test_vhosts,
              test_purge_and_delete_queue, test_close_connection, test_export_definitions,
              test_import_definitions, test_policies, test_status_ping_and_health_checks,
              test_login_and_tag_failures_exit_77, test_usage_errors_exit_64,
              test_environment_variables_choose_the_broker]
    alone = [test_node_down_exits_69_silent_node_75_and_await_startup_75,
             test_await_startup_waits_for_a_starting_node, test_https_with_cacert_and_insecure]
    code = 1
    with broker() as b:
        B["b"] = b
        try:
            run_tests(shared + alone)
        except SystemExit as e:
            code = e.code
    sys.exit(code)
