"""Users, vhosts, permissions and limits (issue #13), driven the way operators and applications
do it: the management API (RabbitMQ's paths and bodies, over plain HTTP) creates users, vhosts,
permissions, topic permissions and limits at run time; pika, kombu and stomp.py then meet each
rule allowed and refused with RabbitMQ's reply codes and texts (rabbit_channel.erl,
rabbit_reader.erl, rabbit_stomp_processor.erl). Deleting a vhost closes its connections with
320; everything survives a clean restart and kill -9. The failed-login back-off runs last (it
locks out this host for a second)."""
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import kombu  # noqa: E402
import pika  # noqa: E402
import pika.exceptions as pex  # noqa: E402
import stomp  # noqa: E402

from harness import broker, run_tests  # noqa: E402

B = {}


def api(method, path, body=None, user="guest", password="guest"):
    b = B["b"]
    req = urllib.request.Request(f"http://{b.host}:{b.http_port}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    req.add_header("authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        return e.code, json.loads(text) if text else None


def connect(user="alice", password="pw", vhost="v1"):
    b = B["b"]
    return pika.BlockingConnection(pika.ConnectionParameters(
        b.host, b.amqp_port, vhost, pika.PlainCredentials(user, password),
        connection_attempts=1))


def expect_channel_close(fn, code, text):
    try:
        fn()
    except pex.ChannelClosedByBroker as e:
        assert (e.reply_code, e.reply_text) == (code, text), (e.reply_code, e.reply_text)
        return
    raise AssertionError(f"expected channel.close {code} {text}")


def expect_connection_close(fn, code, text):
    try:
        fn()
    except pex.ConnectionClosedByBroker as e:
        assert (e.reply_code, e.reply_text) == (code, text), (e.reply_code, e.reply_text)
        return
    except pex.AMQPConnectionError as e:  # refused at connection.open: pika wraps the close
        assert f'({code}) "{text}"' in str(e), str(e)
        return
    raise AssertionError(f"expected connection.close {code} {text}")


def refused(kind, name, vhost="v1", user="alice"):
    return f"ACCESS_REFUSED - access to {kind} '{name}' in vhost '{vhost}' refused for user '{user}'"


def test_api_creates_users_vhosts_and_permissions():
    assert api("PUT", "/api/vhosts/v1") == (201, None)
    assert api("PUT", "/api/vhosts/v1") == (204, None)  # already there
    assert api("PUT", "/api/users/alice", {"password": "pw", "tags": ""}) == (201, None)
    perms = {"configure": "^alice-", "write": "^(alice-.*|amq\\.default|amq\\.topic)$",
             "read": "^(alice-.*|amq\\.topic)$"}
    assert api("PUT", "/api/permissions/v1/alice", perms)[0] == 201
    assert api("PUT", "/api/permissions/v1/guest",
               {"configure": ".*", "write": ".*", "read": ".*"})[0] == 201
    code, body = api("GET", "/api/permissions/v1/alice")
    assert code == 200 and body["configure"] == "^alice-", body
    code, users = api("GET", "/api/users")
    assert code == 200 and {u["name"] for u in users} >= {"guest", "alice"}, users
    alice = [u for u in users if u["name"] == "alice"][0]
    assert alice["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    assert len(base64.b64decode(alice["password_hash"])) == 36  # 4-byte salt + SHA-256
    # A non-administrator may not manage; a bad password gets RabbitMQ's 401.
    assert api("GET", "/api/users", user="alice", password="pw") == (
        401, {"error": "not_authorised", "reason": "Not administrator user"})
    assert api("GET", "/api/users", user="alice", password="nope")[0] == 401
    assert api("GET", "/api/vhosts/nope") == (404, {"error": "Object Not Found",
                                                    "reason": "Not Found"})
    # Guest prepares a queue alice may not touch.
    g = connect("guest", "guest")
    g.channel().queue_declare("bob-q")
    g.close()


def test_configure_write_read_as_rabbitmq_checks_them():
    c = connect()
    ch = c.channel()
    ch.queue_declare("alice-q")                             # configure ^alice-
    ch.queue_bind("alice-q", "amq.topic", "a.b")            # write alice-q, read amq.topic
    ch.basic_publish("", "alice-q", b"hello")               # write amq.default
    ch.basic_publish("amq.topic", "a.b", b"via topic")      # write amq.topic
    time.sleep(0.2)
    assert ch.basic_get("alice-q", auto_ack=True)[2] == b"hello"
    assert ch.basic_get("alice-q", auto_ack=True)[2] == b"via topic"
    expect_channel_close(lambda: c.channel().queue_declare("bob-2"), 403,
                         refused("queue", "bob-2"))
    # Server-named queues are checked under their amq.gen-* name.
    try:
        c.channel().queue_declare("")
        raise AssertionError("server-named queue allowed by ^alice-")
    except pex.ChannelClosedByBroker as e:
        assert e.reply_code == 403 and "access to queue 'amq.gen-" in e.reply_text, e.reply_text
    expect_channel_close(lambda: c.channel().queue_bind("alice-q", "amq.direct", "k"), 403,
                         refused("exchange", "amq.direct"))
    expect_channel_close(lambda: c.channel().basic_get("bob-q"), 403, refused("queue", "bob-q"))
    expect_channel_close(lambda: c.channel().basic_consume("bob-q", lambda *a: None), 403,
                         refused("queue", "bob-q"))
    expect_channel_close(lambda: c.channel().queue_purge("bob-q"), 403, refused("queue", "bob-q"))
    expect_channel_close(lambda: c.channel().queue_delete("bob-q"), 403, refused("queue", "bob-q"))
    expect_channel_close(
        lambda: c.channel().exchange_declare("bob-x", "fanout"), 403,
        refused("exchange", "bob-x"))
    # A publish refused for write is a channel error too (a dead confirm-less channel).
    ch2 = c.channel()
    ch2.confirm_delivery()
    expect_channel_close(lambda: ch2.basic_publish("amq.direct", "k", b"x"), 403,
                         refused("exchange", "amq.direct"))
    # A new queue with a dead-letter exchange needs write on it.
    expect_channel_close(
        lambda: c.channel().queue_declare("alice-dl", arguments={"x-dead-letter-exchange": "dlx"}),
        403, refused("exchange", "dlx"))
    c.close()


def test_topic_permissions_on_routing_keys():
    assert api("PUT", "/api/topic-permissions/v1/alice",
               {"exchange": "amq.topic", "write": "^alice\\.", "read": "^alice\\."})[0] == 201
    c = connect()
    ch = c.channel()
    ch.confirm_delivery()
    ch.basic_publish("amq.topic", "alice.news", b"ok")
    expect_channel_close(
        lambda: ch.basic_publish("amq.topic", "bob.news", b"no"), 403,
        "ACCESS_REFUSED - access to topic 'bob.news' in exchange 'amq.topic' in vhost 'v1' "
        "refused for user 'alice'")
    expect_channel_close(
        lambda: c.channel().queue_bind("alice-q", "amq.topic", "bob.#"), 403,
        "ACCESS_REFUSED - access to topic 'bob.#' in exchange 'amq.topic' in vhost 'v1' "
        "refused for user 'alice'")
    c.close()
    assert api("DELETE", "/api/topic-permissions/v1/alice") == (204, None)


def test_vhost_access_is_checked_at_open():
    expect_connection_close(lambda: connect(vhost="/"), 530,
                            "NOT_ALLOWED - access to vhost '/' refused for user 'alice'")
    try:
        connect(password="wrong")
        raise AssertionError("a wrong password logged in")
    except (pex.ProbableAuthenticationError, pex.AMQPConnectionError):
        pass


def test_kombu_uses_the_same_rules():
    b = B["b"]
    url = f"amqp://alice:pw@{b.host}:{b.amqp_port}/v1"
    with kombu.Connection(url) as conn:
        q = kombu.Queue("alice-kombu", exchange=kombu.Exchange("", type="direct"),
                        routing_key="alice-kombu")
        with conn.Producer() as p:
            p.publish({"n": 1}, routing_key="alice-kombu", declare=[q], retry=False)
        with conn.SimpleQueue(q) as sq:
            assert sq.get(timeout=5).payload == {"n": 1}
    with kombu.Connection(url) as conn:
        try:
            kombu.Queue("not-alice", channel=conn.channel()).declare()
            raise AssertionError("kombu declared a queue alice may not configure")
        except Exception as e:  # amqp.exceptions.AccessRefused
            assert "ACCESS_REFUSED" in str(e) or "403" in str(e) or \
                type(e).__name__ == "AccessRefused", repr(e)


def test_stomp_frames_are_checked():
    b = B["b"]
    s = stomp.Connection([(b.host, b.stomp_port)], heartbeats=(0, 0), vhost="v1")
    errors = []

    class L(stomp.ConnectionListener):
        def on_error(self, frame):
            errors.append((frame.headers.get("message"), frame.body))

    s.set_listener("l", L())
    s.connect("alice", "pw", wait=True)
    s.subscribe("/queue/alice-stomp", id="1")
    s.send("/queue/bob-stomp", "x", receipt="r1")
    deadline = time.monotonic() + 5
    while not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert errors and errors[0][0] == "access_refused", errors
    assert errors[0][1] == refused("queue", "bob-stomp"), errors
    # No access to the vhost: RabbitMQ's "Bad CONNECT".
    s2 = stomp.Connection([(b.host, b.stomp_port)], heartbeats=(0, 0), vhost="/")
    errs2 = []

    class L2(stomp.ConnectionListener):
        def on_error(self, frame):
            errs2.append((frame.headers.get("message"), frame.body))

    s2.set_listener("l", L2())
    try:
        s2.connect("alice", "pw", wait=True, headers={"host": "/"})
    except Exception:
        pass
    deadline = time.monotonic() + 5
    while not errs2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert errs2 and errs2[0] == ("Bad CONNECT", "Virtual host '/' access denied"), errs2


def test_limits_refuse_the_next_one_with_rabbitmqs_errors():
    assert api("PUT", "/api/vhost-limits/v1/max-connections", {"value": 1}) == (204, None)
    c = connect()
    expect_connection_close(
        connect, 530,
        "NOT_ALLOWED - access to vhost 'v1' refused for user 'alice': connection limit (1) is "
        "reached")
    ch = c.channel()
    n = len(api("GET", "/api/vhosts")[1])  # not a queue count: just proves the API still works
    assert n >= 2
    assert api("PUT", "/api/vhost-limits/v1/max-queues", {"value": 3})[0] == 204
    # bob-q, alice-q and alice-kombu exist: a fourth new queue is refused.
    expect_channel_close(
        lambda: ch.queue_declare("alice-q4"), 406,
        "PRECONDITION_FAILED - cannot declare queue 'alice-q4': queue limit in vhost 'v1' (3) is "
        "reached")
    c.channel().queue_declare("alice-q")  # redeclaring an existing one is fine
    code, limits = api("GET", "/api/vhost-limits/v1")
    assert limits == [{"vhost": "v1", "value": {"max-connections": 1, "max-queues": 3}}], limits
    c.close()
    assert api("DELETE", "/api/vhost-limits/v1/max-connections") == (204, None)
    assert api("DELETE", "/api/vhost-limits/v1/max-queues") == (204, None)
    # Per user: channels over all of alice's connections, then connections.
    assert api("PUT", "/api/user-limits/alice/max-channels", {"value": 1}) == (204, None)
    c = connect()
    c.channel()
    expect_connection_close(
        c.channel, 530,
        "NOT_ALLOWED - number of channels opened for user 'alice' has reached the maximum "
        "allowed user limit of (1)")
    assert api("DELETE", "/api/user-limits/alice/max-channels") == (204, None)
    assert api("PUT", "/api/user-limits/alice/max-connections", {"value": 1}) == (204, None)
    c = connect()
    expect_connection_close(
        connect, 530,
        "NOT_ALLOWED - Connection refused for user 'alice': user connection limit (1) is reached")
    c.close()
    assert api("DELETE", "/api/user-limits/alice/max-connections") == (204, None)


def test_deleting_a_vhost_closes_its_connections():
    assert api("PUT", "/api/vhosts/v2")[0] == 201
    assert api("PUT", "/api/permissions/v2/guest",
               {"configure": ".*", "write": ".*", "read": ".*"})[0] == 201
    c = connect("guest", "guest", "v2")
    ch = c.channel()
    ch.queue_declare("doomed", durable=True)
    ch.basic_publish("", "doomed", b"x", pika.BasicProperties(delivery_mode=2))
    assert api("DELETE", "/api/vhosts/v2") == (204, None)
    expect_connection_close(lambda: c.process_data_events(time_limit=5), 320,
                            "CONNECTION_FORCED - vhost 'v2' is deleted")
    assert api("GET", "/api/vhosts/v2")[0] == 404
    assert not [p for p in api("GET", "/api/permissions")[1] if p["vhost"] == "v2"]


def test_deleting_a_user_closes_their_connections():
    assert api("PUT", "/api/users/dave", {"password": "d", "tags": ""})[0] == 201
    assert api("PUT", "/api/permissions/v1/dave",
               {"configure": ".*", "write": ".*", "read": ".*"})[0] == 201
    c = connect("dave", "d")
    c.channel()
    assert api("DELETE", "/api/users/dave") == (204, None)
    expect_connection_close(lambda: c.process_data_events(time_limit=5), 320,
                            "CONNECTION_FORCED - user 'dave' is deleted")
    assert api("GET", "/api/users/dave")[0] == 404
    assert not [p for p in api("GET", "/api/permissions")[1] if p["user"] == "dave"]


def check_state_survived():
    code, users = api("GET", "/api/users")
    assert code == 200 and "alice" in {u["name"] for u in users}, users
    assert api("GET", "/api/vhosts/v1")[0] == 200
    assert api("GET", "/api/vhosts/v2")[0] == 404  # deleted stays deleted
    c = connect()
    c.channel().queue_declare("alice-durable", passive=True)
    expect_channel_close(lambda: c.channel().queue_declare("bob-3"), 403,
                         refused("queue", "bob-3"))
    c.close()
    expect_connection_close(lambda: connect(vhost="/"), 530,
                            "NOT_ALLOWED - access to vhost '/' refused for user 'alice'")


def test_state_survives_restart_and_kill_9():
    b = B["b"]
    assert api("PUT", "/api/user-limits/alice/max-channels", {"value": 50})[0] == 204
    c = connect()
    c.channel().queue_declare("alice-durable", durable=True)
    c.close()
    b.restart()
    check_state_survived()
    assert api("GET", "/api/user-limits/alice")[1] == [
        {"user": "alice", "value": {"max-channels": 50}}]
    assert api("PUT", "/api/users/carol", {"password": "c", "tags": "management"})[0] == 201
    b.kill()
    b.start()
    check_state_survived()
    code, who = api("GET", "/api/whoami", user="carol", password="c")
    assert (code, who) == (200, {"name": "carol", "tags": ["management"]}), (code, who)


def test_repeated_failed_logins_back_off():
    b = B["b"]
    for _ in range(10):
        try:
            connect(password="wrong").close()
        except (pex.ProbableAuthenticationError, pex.AMQPConnectionError):
            pass
    # Locked out: even the right password is refused for a while, and the log says why.
    try:
        connect().close()
        raise AssertionError("login accepted during the back-off")
    except (pex.ProbableAuthenticationError, pex.AMQPConnectionError):
        pass
    assert "too many failed logins from this address" in b.log_text()
    deadline = time.monotonic() + 10
    while True:
        try:
            connect().close()
            break
        except (pex.ProbableAuthenticationError, pex.AMQPConnectionError):
            assert time.monotonic() < deadline, "still locked out after 10 s"
            time.sleep(0.5)


if __name__ == "__main__":
    code = 1
    with broker() as b:
        B["b"] = b
        try:
            run_tests([test_api_creates_users_vhosts_and_permissions,
                       test_configure_write_read_as_rabbitmq_checks_them,
                       test_topic_permissions_on_routing_keys,
                       test_vhost_access_is_checked_at_open,
                       test_kombu_uses_the_same_rules,
                       test_stomp_frames_are_checked,
                       test_limits_refuse_the_next_one_with_rabbitmqs_errors,
                       test_deleting_a_vhost_closes_its_connections,
                       test_deleting_a_user_closes_their_connections,
                       test_state_survives_restart_and_kill_9,
                       test_repeated_failed_logins_back_off])
        except SystemExit as e:
            code = e.code
    sys.exit(code)
