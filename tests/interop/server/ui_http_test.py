"""The web UI's files over HTTP (issue #14): GET / is the HTML page with its Content-Type,
ETag and Cache-Control, no login needed; a matching If-None-Match gets 304; the scripts and
stylesheet have their types; an unknown path is RabbitMQ's JSON 404; the UI shadows none of
/api, /metrics and /ws; an answer to HEAD (a 404 too) has no body (#16)."""
import http.client
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness import broker, run_tests  # noqa: E402

B = {}


def fetch(method, path, headers=None):
    b = B["b"]
    c = http.client.HTTPConnection(b.host, b.http_port, timeout=10)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, body


def test_root_is_the_html_page_without_login():
    status, h, body = fetch("GET", "/")
    assert status == 200, status
    assert h["content-type"] == "text/html; charset=utf-8", h
    assert body.startswith(b"<!doctype html>"), body[:40]
    assert b'src="/js/app.js"' in body
    assert h["cache-control"] == "no-cache"
    assert h["etag"].startswith('"') and h["etag"].endswith('"'), h["etag"]
    assert "default-src 'self'" in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    _, _, again = fetch("GET", "/index.html")
    assert again == body


def test_if_none_match_gets_304():
    _, h, _ = fetch("GET", "/")
    status, h2, body = fetch("GET", "/", {"If-None-Match": h["etag"]})
    assert status == 304 and body == b"", (status, body)
    assert h2["etag"] == h["etag"]
    status, _, _ = fetch("GET", "/", {"If-None-Match": '"other"'})
    assert status == 200


def test_assets_have_their_content_types():
    for path, ctype in [("/js/app.js", "text/javascript; charset=utf-8"),
                        ("/js/api.js", "text/javascript; charset=utf-8"),
                        ("/style.css", "text/css; charset=utf-8"),
                        ("/favicon.svg", "image/svg+xml")]:
        status, h, body = fetch("GET", path)
        assert status == 200, (path, status)
        assert h["content-type"] == ctype, (path, h["content-type"])
        assert int(h["content-length"]) == len(body) > 0
    status, h, body = fetch("HEAD", "/style.css")
    assert status == 200 and body == b"" and int(h["content-length"]) > 0


def test_unknown_paths_are_404():
    for path in ["/nope", "/js/nope.js", "/index.htm", "/www/index.html"]:
        status, h, body = fetch("GET", path)
        assert status == 404, (path, status)
        assert json.loads(body) == {"error": "Object Not Found", "reason": "Not Found"}
    status, h, _ = fetch("POST", "/")
    assert status == 405 and "GET" in h["allow"], (status, h)


def test_head_answers_carry_no_body_on_a_kept_alive_connection():
    # Found by fuzz_http_request (#16): the 404 and 405 answers to HEAD carried their JSON body,
    # which the client then read as the start of the next response.
    b = B["b"]
    c = http.client.HTTPConnection(b.host, b.http_port, timeout=10)
    for method, path, want in [("HEAD", "/nope", 404), ("HEAD", "/api/health", 405),
                               ("HEAD", "/style.css", 200), ("GET", "/api/health", 200)]:
        c.request(method, path)
        r = c.getresponse()
        body = r.read()
        assert r.status == want, (method, path, r.status)
        if method == "HEAD":
            assert body == b"", (path, body)
            assert int(r.getheader("content-length")) > 0 or want == 405, (path, r.getheaders())
    assert json.loads(body) == {"status": "ok"}
    c.close()


def test_api_metrics_and_websocket_are_not_shadowed():
    status, h, body = fetch("GET", "/api/overview")
    assert status == 401, status  # still needs a login
    status, _, body = fetch("GET", "/api/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, h, body = fetch("GET", "/metrics")
    assert status == 200 and b"rabbitmq_queues" in body, status
    status, _, _ = fetch("GET", "/ws", {"Connection": "Upgrade", "Upgrade": "websocket",
                                        "Sec-WebSocket-Version": "13",
                                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                                        "Sec-WebSocket-Protocol": "v12.stomp"})
    assert status == 101, status


if __name__ == "__main__":
    code = 1
    with broker() as b:
        B["b"] = b
        try:
            run_tests([test_root_is_the_html_page_without_login, test_if_none_match_gets_304,
                       test_assets_have_their_content_types, test_unknown_paths_are_404,
                       test_head_answers_carry_no_body_on_a_kept_alive_connection,
                       test_api_metrics_and_websocket_are_not_shadowed])
        except SystemExit as e:
            code = e.code
    sys.exit(code)
