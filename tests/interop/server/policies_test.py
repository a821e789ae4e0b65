"""Policies, operator policies, runtime parameters and definitions import in the management API
(issue #14), with rabbitmqadmin (Debian's rabbitmq-server 3.10.8) and urllib. Every reply text
checked here was observed on a real RabbitMQ 3.10.8 with the same calls. The definitions file
tests/interop/server/data/rabbitmq-3.10.8-definitions.json was exported by a real RabbitMQ
3.10.8 (users, vhosts, permissions, topic permissions, vhost limits, policies, an operator
policy, queues, exchanges, bindings): it imports into Warren, the objects work over AMQP, and
Warren's export of it is equivalent to RabbitMQ's."""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pika  # noqa: E402

from harness import broker, run_tests  # noqa: E402
from management_test import B, RABBITMQADMIN, admin, admin_json, api, connect  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                       "rabbitmq-3.10.8-definitions.json")


def queue(vhost, name):
    code, body = api("GET", f"/api/queues/{vhost}/{name}")
    assert code == 200, (code, body)
    return body


def publish(vhost, routing_key, n, exchange=""):
    conn = connect(vhost=vhost.replace("%2F", "/"))
    ch = conn.channel()
    for i in range(n):
        ch.basic_publish(exchange, routing_key, f"m{i}".encode())
    conn.close()


def test_policies_apply_to_queues_and_rabbitmqadmin_manages_them():
    admin("declare", "policy", "name=short", r"pattern=^pol\.", 'definition={"max-length": 2}',
          "apply-to=queues", "priority=1")
    assert api("PUT", "/api/queues/%2F/pol.a", {"durable": True})[0] == 201
    publish("%2F", "pol.a", 5)
    q = queue("%2F", "pol.a")
    assert (q["policy"], q["messages"]) == ("short", 2), q
    assert q["effective_policy_definition"] == {"max-length": 2}, q
    listed = admin_json("list", "policies")
    mine = [p for p in listed if p["name"] == "short"]
    assert mine == [{"vhost": "/", "name": "short", "pattern": r"^pol\.", "apply-to": "queues",
                     "definition": {"max-length": 2}, "priority": 1}], listed
    # Replacing answers 204, a new one 201.
    body = {"pattern": r"^pol\.", "definition": {"max-length": 3}, "apply-to": "queues"}
    assert api("PUT", "/api/policies/%2F/short", body)[0] == 204
    publish("%2F", "pol.a", 5)
    assert queue("%2F", "pol.a")["messages"] == 3
    admin("delete", "policy", "name=short")
    assert api("GET", "/api/policies/%2F/short")[0] == 404
    assert queue("%2F", "pol.a")["policy"] is None
    assert api("DELETE", "/api/policies/%2F/short") == (
        404, {"error": "Object Not Found", "reason": "Not Found"})


def test_policy_errors_are_rabbitmqs():
    def put(body, path="/api/policies/%2F/bad"):
        return api("PUT", path, body)
    bad = "Validation failed\n\n"
    assert put({"pattern": "x", "definition": {"message-ttl": "x"}}) == (
        400, {"error": "bad_request",
              "reason": bad + '&lt;&lt;"x"&gt;&gt; is not a valid message TTL\n'})
    assert put({"definition": {"message-ttl": 5}}) == (
        400, {"error": "bad_request", "reason": "[{key_missing,pattern}]"})
    assert put({"pattern": "x", "definition": {"foo": 5, "bar": 1}}) == (
        400, {"error": "bad_request", "reason": bad + '[{&lt;&lt;"bar"&gt;&gt;,1},'
              '{&lt;&lt;"foo"&gt;&gt;,5}] are not recognised policy settings\n'})
    assert put({"pattern": "x", "definition": {"message-ttl": 5}, "apply-to": "bogus"}) == (
        400, {"error": "bad_request", "reason": bad + "apply-to 'bogus' unrecognised; should "
              "be 'queues', 'exchanges' or 'all'\n"})
    assert put({"pattern": "x", "definition": {"message-ttl": 5}, "priority": "3"}) == (
        400, {"error": "bad_request",
              "reason": bad + 'priority should be a number, actually was &lt;&lt;"3"&gt;&gt;\n'})
    assert put({"pattern": "x", "definition": {}}) == (
        400, {"error": "bad_request", "reason": bad + "no policy provided\n"})
    assert put({"pattern": "x", "definition": {"ha-mode": "exactly"}}) == (
        400, {"error": "bad_request",
              "reason": bad + 'ha-mode="exactly" takes an integer, none given\n'})
    code, body = put({"pattern": "(", "definition": {"message-ttl": 5}})
    assert code == 400 and body["reason"].startswith(
        bad + "pattern should be regular expression but is invalid"), body
    # Operator policies take only the size and TTL keys (and are not HTML-escaped).
    assert put({"pattern": "x", "definition": {"dead-letter-exchange": "x"}},
               "/api/operator-policies/%2F/bad") == (
        400, {"error": "bad_request", "reason": bad + '[{<<"dead-letter-exchange">>,<<"x">>}]'
              " are not recognised policy settings\n"})
    assert put({"pattern": "x", "definition": {"max-length": 1}}, "/api/policies/nohost/x") == (
        404, {"error": "not_found", "reason": "vhost_not_found"})
    # RabbitMQ 3.10's other keys load unchanged (no effect in Warren).
    assert put({"pattern": "^ha\\.", "definition": {"ha-mode": "all", "queue-mode": "lazy"}})[0] \
        == 201
    assert api("DELETE", "/api/policies/%2F/bad")[0] == 204
    assert api("GET", "/api/policies/%2F/bad")[0] == 404


def test_operator_policy_caps_and_tag_rules():
    assert api("PUT", "/api/queues/%2F/opq.a", {"durable": False,
                                                "arguments": {"x-max-length": 50}})[0] == 201
    assert api("PUT", "/api/policies/%2F/op-user",
               {"pattern": "^opq", "definition": {"max-length": 20, "message-ttl": 60000},
                "apply-to": "queues"})[0] == 201
    assert api("PUT", "/api/operator-policies/%2F/cap",
               {"pattern": ".*", "definition": {"max-length": 4, "message-ttl": 900000},
                "priority": 0, "apply-to": "queues"})[0] == 201
    publish("%2F", "opq.a", 10)
    q = queue("%2F", "opq.a")
    assert (q["policy"], q["operator_policy"], q["messages"]) == ("op-user", "cap", 4), q
    assert q["effective_policy_definition"] == {"max-length": 4, "message-ttl": 60000}, q
    # Operator policies are also the runtime parameter component "operator_policy".
    code, p = api("GET", "/api/parameters/operator_policy/%2F/cap")
    assert (code, p["value"]["definition"], p["component"]) == (
        200, {"max-length": 4, "message-ttl": 900000}, "operator_policy"), p
    # Tags: policymaker may set policies in its vhosts, not operator policies; management not.
    for user, tags in (("pm", "policymaker"), ("mg", "management")):
        assert api("PUT", f"/api/users/{user}", {"password": "pw", "tags": tags})[0] == 201
        assert api("PUT", f"/api/permissions/%2F/{user}",
                   {"configure": ".*", "write": ".*", "read": ".*"})[0] == 201
    pol = {"pattern": "^pm", "definition": {"max-length": 1}}
    assert api("PUT", "/api/policies/%2F/pm-pol", pol, user="pm", password="pw")[0] == 201
    assert api("PUT", "/api/operator-policies/%2F/pm-op", pol, user="pm", password="pw")[0] == 401
    assert api("PUT", "/api/policies/%2F/mg-pol", pol, user="mg", password="pw")[0] == 401
    assert api("GET", "/api/policies", user="mg", password="pw")[0] == 401
    assert api("DELETE", "/api/policies/%2F/pm-pol", user="pm", password="pw")[0] == 204
    assert api("DELETE", "/api/operator-policies/%2F/cap")[0] == 204
    assert queue("%2F", "opq.a")["operator_policy"] is None


def test_parameters_are_rabbitmqs():
    bad = "Validation failed\n\n"
    assert api("GET", "/api/parameters/shovel/%2F/x") == (
        404, {"error": "Object Not Found", "reason": "Not Found"})
    assert api("PUT", "/api/parameters/shovel/%2F/x", {"value": {}}) == (
        400, {"error": "bad_request", "reason": bad + "component shovel not found\n"})
    assert api("PUT", "/api/parameters/vhost-limits/%2F/limits",
               {"value": {"max-queues": 600, "foo": 1}}) == (
        400, {"error": "bad_request",
              "reason": bad + 'Unrecognised terms [{&lt;&lt;"foo"&gt;&gt;,1}] in limits\n'})
    assert api("PUT", "/api/parameters/vhost-limits/%2F/limits",
               {"value": {"max-queues": "x"}}) == (
        400, {"error": "bad_request", "reason": bad + 'max-queues should be a number, actually '
              'was &lt;&lt;"x"&gt;&gt;\n'})
    assert api("PUT", "/api/parameters/operator_policy/%2F/cap2",
               {"value": {"pattern": "^x", "definition": {"max-length": 3},
                          "apply-to": "queues"}}) == (
        400, {"error": "bad_request", "reason": bad + 'Key "priority" not found in cap2\n'})
    assert api("PUT", "/api/parameters/vhost-limits/%2F/limits",
               {"value": {"max-queues": 9000}})[0] in (201, 204)
    code, listed = api("GET", "/api/parameters/vhost-limits")
    assert {"value": {"max-queues": 9000}, "vhost": "/", "component": "vhost-limits",
            "name": "limits"} in listed, listed
    assert api("GET", "/api/vhost-limits/%2F")[1] == [{"vhost": "/",
                                                       "value": {"max-queues": 9000}}]
    assert api("DELETE", "/api/parameters/vhost-limits/%2F/limits")[0] == 204
    assert api("GET", "/api/vhost-limits/%2F")[1] == []


def test_policies_survive_a_restart():
    assert api("PUT", "/api/policies/%2F/durable-pol",
               {"pattern": "^dur\\.", "definition": {"max-length": 1},
                "apply-to": "queues", "priority": 3})[0] == 201
    assert api("PUT", "/api/operator-policies/%2F/durable-op",
               {"pattern": "^dur\\.", "definition": {"message-ttl": 5000}})[0] == 201
    assert api("PUT", "/api/queues/%2F/dur.q", {"durable": True})[0] == 201
    B["b"].restart()
    _, p = api("GET", "/api/policies/%2F/durable-pol")
    assert (p["definition"], p["priority"], p["apply-to"]) == ({"max-length": 1}, 3, "queues"), p
    q = queue("%2F", "dur.q")
    assert (q["policy"], q["operator_policy"]) == ("durable-pol", "durable-op"), q
    assert q["effective_policy_definition"] == {"max-length": 1, "message-ttl": 5000}, q
    assert api("DELETE", "/api/policies/%2F/durable-pol")[0] == 204
    assert api("DELETE", "/api/operator-policies/%2F/durable-op")[0] == 204
    B["b"].restart()
    assert api("GET", "/api/policies/%2F/durable-pol")[0] == 404
    assert queue("%2F", "dur.q")["policy"] is None


def canonical(defs):
    """What must survive a round trip, order-free: the objects RabbitMQ's export lists."""
    def rows(key, fields):
        return sorted(json.dumps({f: o.get(f) for f in fields}, sort_keys=True)
                      for o in defs.get(key, []))
    users = sorted(json.dumps({"name": u["name"], "password_hash": u["password_hash"],
                               "tags": sorted(u["tags"] if isinstance(u["tags"], list)
                                              else [t for t in u["tags"].split(",") if t])},
                              sort_keys=True) for u in defs["users"])
    return {
        "users": users,
        "vhosts": sorted(v["name"] for v in defs["vhosts"]),
        "permissions": rows("permissions", ["user", "vhost", "configure", "write", "read"]),
        "topic_permissions": rows("topic_permissions",
                                  ["user", "vhost", "exchange", "write", "read"]),
        "parameters": rows("parameters", ["vhost", "component", "name", "value"]),
        "policies": rows("policies", ["vhost", "name", "pattern", "apply-to", "definition",
                                      "priority"]),
        "queues": rows("queues", ["vhost", "name", "durable", "auto_delete", "arguments"]),
        "exchanges": rows("exchanges", ["vhost", "name", "type", "durable", "auto_delete",
                                        "internal", "arguments"]),
        "bindings": rows("bindings", ["vhost", "source", "destination", "destination_type",
                                      "routing_key", "arguments"]),
    }


def test_rabbitmq_definitions_import_and_export_back_equivalent():
    with open(FIXTURE) as f:
        rabbit = json.load(f)
    with tempfile.TemporaryDirectory() as d:
        # rabbitmqadmin import (no -V: the whole broker): POST /api/definitions, file as it is.
        p = admin("import", FIXTURE, vhost=None)
        assert "Uploaded definitions" in p.stdout, p.stdout
        _, warren = api("GET", "/api/definitions")
        mine = canonical(warren)
        theirs = canonical(rabbit)
        for key, rows in theirs.items():
            missing = [r for r in rows if r not in mine[key]]
            assert not missing, (key, missing, mine[key])
        # Exported again by rabbitmqadmin, imported again: nothing changes (idempotent).
        path = os.path.join(d, "again.json")
        admin("export", path, vhost=None)
        assert api("POST", "/api/definitions", raw=open(path, "rb").read())[0] == 204
        assert canonical(api("GET", "/api/definitions")[1]) == mine
    # The imported things work: users log in with RabbitMQ's hashes, the topology routes,
    # policies and vhost limits apply.
    conn = connect(user="alice", password="alice-pw", vhost="shop")
    ch = conn.channel()
    ch.confirm_delivery()
    ch.basic_publish("events", "order.eu.1", b"eu", mandatory=True)
    ch.basic_publish("events", "audit.x", b"audit",
                     pika.BasicProperties(headers={"kind": "audit"}), mandatory=True)
    conn.close()
    assert queue("shop", "orders.eu")["messages"] == 1
    assert queue("shop", "archive")["messages"] == 1
    q = queue("shop", "orders.eu")
    assert (q["policy"], q["operator_policy"]) == ("orders-limits", "cap"), q
    assert q["effective_policy_definition"] == {
        "dead-letter-exchange": "dlx", "max-length": 10000, "max-length-bytes": 104857600,
        "overflow": "reject-publish"}, q
    assert api("GET", "/api/vhost-limits/shop")[1] == [
        {"vhost": "shop", "value": {"max-connections": 100, "max-queues": 500}}]
    assert api("GET", "/api/whoami", user="bob", password="bob-pw")[1]["tags"] == [
        "management", "policymaker"]
    # An import does not give the importing user permissions in the vhosts it creates.
    _, perms = api("GET", "/api/permissions")
    assert not any(p["vhost"] == "shop" and p["user"] not in ("guest", "alice", "bob")
                   for p in perms), perms


def test_vhost_import_and_import_errors():
    assert api("PUT", "/api/vhosts/imp", {})[0] == 201
    one = {"queues": [{"name": "iq", "vhost": "elsewhere", "durable": True, "auto_delete": False,
                       "arguments": {"x-max-length": 5}}],
           "exchanges": [{"name": "ix", "vhost": "elsewhere", "type": "fanout", "durable": True,
                          "auto_delete": False, "internal": False, "arguments": {}}],
           "bindings": [{"source": "ix", "vhost": "elsewhere", "destination": "iq",
                         "destination_type": "queue", "routing_key": "", "arguments": {}}],
           "policies": [{"name": "ip", "vhost": "elsewhere", "pattern": "^iq$",
                         "apply-to": "queues", "definition": {"max-length": 2},
                         "priority": 0}]}
    assert api("POST", "/api/definitions/imp", one)[0] == 204
    assert queue("imp", "iq")["policy"] == "ip"
    assert api("GET", "/api/exchanges/imp/ix")[0] == 200
    assert api("GET", "/api/vhosts/elsewhere")[0] == 404
    # rabbitmqadmin -V imp import works the same way.
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "one.json")
        with open(path, "w") as f:
            json.dump({"queues": [{"name": "iq2", "durable": True, "auto_delete": False,
                                   "arguments": {}}]}, f)
        admin("import", path, vhost="imp")
    assert queue("imp", "iq2")["durable"] is True
    # The first object refused stops the import, named in the reason.
    code, body = api("POST", "/api/definitions",
                     {"queues": [{"name": "ok-q", "vhost": "/", "durable": True,
                                  "arguments": {}},
                                 {"name": "bad-q", "vhost": "/", "durable": True,
                                  "arguments": {"x-max-length": "many"}}]})
    assert (code, body["error"]) == (400, "bad_request"), body
    assert body["reason"].startswith("queue 'bad-q' in vhost '/': "), body
    assert api("GET", "/api/queues/%2F/ok-q")[0] == 200
    assert api("POST", "/api/definitions", raw=b"{nope")[0] == 400
    assert api("POST", "/api/definitions/missing", {})[0] == 404
    # Administrator only.
    assert api("PUT", "/api/users/mon", {"password": "pw", "tags": "monitoring"})[0] == 201
    assert api("POST", "/api/definitions", {}, user="mon", password="pw")[0] == 401


if __name__ == "__main__":
    if not os.path.exists(RABBITMQADMIN):
        print(f"FAIL: {RABBITMQADMIN} missing (scripts/deps.txt: apt rabbitmq-server)")
        sys.exit(1)
    code = 1
    with broker() as b:
        B["b"] = b
        try:
            run_tests([test_policies_apply_to_queues_and_rabbitmqadmin_manages_them,
                       test_policy_errors_are_rabbitmqs,
                       test_operator_policy_caps_and_tag_rules,
                       test_parameters_are_rabbitmqs,
                       test_policies_survive_a_restart,
                       test_rabbitmq_definitions_import_and_export_back_equivalent,
                       test_vhost_import_and_import_errors])
        except SystemExit as e:
            code = e.code
    sys.exit(code)
