"""The gateway simulator speaks the wire format the client relies on (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import quote_plus

import httpx
import pytest

from providers.testing.gateway_chat import schema_instance
from providers.testing.gateway_simulator import GatewaySimulator


@pytest.fixture
def sim():
    with GatewaySimulator(client_secret="s3cret+with/odd:chars") as server:
        yield server


def _basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def _token(sim: GatewaySimulator) -> str:
    r = httpx.post(
        sim.token_url,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": _basic(sim.client_id, sim.client_secret)},
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _events(response: httpx.Response) -> list[str]:
    return [line for line in response.iter_lines() if line]


def test_basic_auth_is_form_urldecoded_after_base64(sim):
    r = httpx.post(
        sim.token_url,
        data={"grant_type": "client_credentials", "scope": "chat"},
        headers={"Authorization": _basic(sim.client_id, sim.client_secret)},
    )
    body = r.json()
    assert r.status_code == 200
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600 and body["scope"] == "chat"
    assert r.headers["cache-control"] == "no-store"
    # Without the §2.3.1 encoding the "+" is decoded as a space: rejected.
    raw = base64.b64encode(f"{sim.client_id}:{sim.client_secret}".encode()).decode()
    r = httpx.post(sim.token_url, data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic " + raw})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert sim.token_requests == 2 and sim.auth_methods == ["client_secret_basic", "client_secret_basic"]


def test_client_secret_post_and_wrong_credentials(sim):
    ok = httpx.post(
        sim.token_url,
        data={"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": sim.client_secret},
    )
    assert ok.status_code == 200 and sim.auth_methods == ["client_secret_post"]
    bad = httpx.post(
        sim.token_url, data={"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": "nope"}
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    missing = httpx.post(sim.token_url, data={"grant_type": "client_credentials"})
    assert missing.status_code == 401
    grant = httpx.post(
        sim.token_url, data={"grant_type": "password", "client_id": sim.client_id, "client_secret": sim.client_secret}
    )
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_expires_in_is_omitted_when_lifetime_is_none():
    with GatewaySimulator(token_lifetime=None) as sim:
        r = httpx.post(
            sim.token_url,
            data={"grant_type": "client_credentials", "client_id": "sim-client", "client_secret": "sim-secret"},
        )
        assert r.status_code == 200 and "expires_in" not in r.json()


def test_models_need_a_valid_token(sim):
    assert httpx.get(sim.base_url + "/models").status_code == 401
    assert httpx.get(sim.base_url + "/models", headers={"Authorization": "Bearer made-up"}).status_code == 401
    token = _token(sim)
    r = httpx.get(sim.base_url + "/models", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    assert [m["id"] for m in r.json()["data"]] == ["sim-fast", "sim-standard", "sim-premium"]
    assert sim.revoke_tokens() == 1
    r = httpx.get(sim.base_url + "/models", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    assert sim.api_requests == 4 and sim.unauthorized_requests == 3


def test_tokens_expire():
    with GatewaySimulator(token_lifetime=1) as sim:
        token = _token(sim)
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.get(sim.base_url + "/models", headers=headers).status_code == 200
        time.sleep(1.1)
        r = httpx.get(sim.base_url + "/models", headers=headers)
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


def test_chat_json_echo_with_usage(sim):
    headers = {"Authorization": f"Bearer {_token(sim)}"}
    body = {
        "model": "sim-fast",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello world"}],
    }
    r = httpx.post(sim.base_url + "/chat/completions", headers=headers, json=body)
    data = r.json()
    assert data["choices"][0]["message"]["content"] == "Echo: hello world"
    assert data["usage"]["total_tokens"] == data["usage"]["prompt_tokens"] + data["usage"]["completion_tokens"] > 0
    assert sim.chat_requests == 1 and sim.last_chat_request == body
    r = httpx.post(
        sim.base_url + "/chat/completions", headers=headers, json={"model": "nope", "messages": body["messages"]}
    )
    assert r.status_code == 404
    assert (
        httpx.post(sim.base_url + "/chat/completions", headers=headers, json={"model": "sim-fast"}).status_code == 400
    )


def test_chat_stream_chunks_usage_and_done(sim):
    headers = {"Authorization": f"Bearer {_token(sim)}"}
    body = {
        "model": "sim-fast",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "one two three"}],
    }
    with httpx.stream("POST", sim.base_url + "/chat/completions", headers=headers, json=body) as r:
        assert r.headers["content-type"] == "text/event-stream"
        events = _events(r)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Echo: one two three"
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) == 4
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 4
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


def test_scripted_tool_call_is_streamed_in_fragments_then_answers(sim):
    headers = {"Authorization": f"Bearer {_token(sim)}"}
    sim.script_tool_call("get_weather", {"city": "Paris"})
    body = {"model": "sim-fast", "stream": True, "messages": [{"role": "user", "content": "weather?"}], "tools": []}
    with httpx.stream("POST", sim.base_url + "/chat/completions", headers=headers, json=body) as r:
        chunks = [json.loads(e[6:]) for e in _events(r)[:-1]]
    fragments = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert fragments[0]["id"] == "call_1" and fragments[0]["function"]["name"] == "get_weather"
    assert len(fragments) > 2 and {f["index"] for f in fragments} == {0}
    assert json.loads("".join(f["function"]["arguments"] for f in fragments)) == {"city": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    follow = body["messages"] + [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    r = httpx.post(sim.base_url + "/chat/completions", headers=headers, json={"model": "sim-fast", "messages": follow})
    assert r.json()["choices"][0]["message"]["content"] == "Tool result: sunny"


def test_structured_output_matches_the_schema_or_the_script(sim):
    headers = {"Authorization": f"Bearer {_token(sim)}"}
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "score": {"type": "integer", "minimum": 3},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
    }
    body = {
        "model": "sim-fast",
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "Idea", "schema": schema}},
    }
    content = httpx.post(sim.base_url + "/chat/completions", headers=headers, json=body).json()["choices"][0][
        "message"
    ]["content"]
    assert json.loads(content) == {"title": "sample", "score": 3, "tags": ["sample"]}
    sim.script_reply(json={"title": "Forge", "score": 9, "tags": []})
    content = httpx.post(sim.base_url + "/chat/completions", headers=headers, json=body).json()["choices"][0][
        "message"
    ]["content"]
    assert json.loads(content)["title"] == "Forge"
    assert schema_instance({"anyOf": [{"type": "null"}, {"type": "string"}]}) is None


def test_faults_rate_limit_5xx_token_endpoint(sim):
    headers = {"Authorization": f"Bearer {_token(sim)}"}
    sim.rate_limit(retry_after=7)
    r = httpx.get(sim.base_url + "/models", headers=headers)
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    sim.fail(502)
    assert httpx.get(sim.base_url + "/models", headers=headers).status_code == 502
    assert httpx.get(sim.base_url + "/models", headers=headers).status_code == 200
    sim.fail_token_endpoint(401, error="invalid_client", times=1)
    r = httpx.post(
        sim.token_url,
        data={"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": sim.client_secret},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert sim.token_requests == 2


def test_stream_faults_cut_error_event_and_stall(sim):
    headers = {"Authorization": f"Bearer {_token(sim)}"}
    body = {"model": "sim-fast", "stream": True, "messages": [{"role": "user", "content": "a b c d"}]}
    sim.stream_fault(cut_after=2)
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("POST", sim.base_url + "/chat/completions", headers=headers, json=body) as r:
            list(r.iter_lines())
    sim.stream_fault(error_after=1)
    with httpx.stream("POST", sim.base_url + "/chat/completions", headers=headers, json=body) as r:
        events = _events(r)
    assert events[-2] == "event: error" and "stream_error" in events[-1]
    sim.stream_fault(stall_after=1, stall_seconds=2)
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream(
            "POST", sim.base_url + "/chat/completions", headers=headers, json=body, timeout=httpx.Timeout(5, read=0.5)
        ) as r,
    ):
        list(r.iter_lines())
    sim.stream_fault(first_byte_delay=0.3)
    started = time.monotonic()
    with httpx.stream("POST", sim.base_url + "/chat/completions", headers=headers, json=body) as r:
        assert _events(r)[-1] == "data: [DONE]"
    assert time.monotonic() - started >= 0.3


def test_a_burst_of_concurrent_connections_is_queued_not_reset():
    """The listen backlog was 5: a burst of connections (a load test) got resets."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    with GatewaySimulator() as sim:
        # Hold 200 connections open at once (none sends a request yet), then use each one.
        started = time.monotonic()
        sockets = [socket.create_connection(("127.0.0.1", sim.port), timeout=5) for _ in range(200)]
        # With a backlog of 5 the kernel drops the SYNs beyond it: clients retry after 1, 3, 7 s.
        assert time.monotonic() - started < 0.9
        try:

            def ask(sock: socket.socket) -> bytes:
                sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return sock.recv(64)

            with ThreadPoolExecutor(50) as pool:
                answers = list(pool.map(ask, sockets))
        finally:
            for sock in sockets:
                sock.close()
        assert all(a.startswith(b"HTTP/1.1 401") for a in answers)
        assert sim.wait_for_connections(lambda s: s.open_connections == 0, 5)
        assert sim.connections_opened == sim.connections_closed == 200


def test_the_simulator_counts_streams_a_client_left():
    with GatewaySimulator() as sim:
        sim.chunk_delay = 0.02
        token = httpx.post(
            sim.token_url, data={"grant_type": "client_credentials"}, auth=(sim.client_id, sim.client_secret)
        ).json()
        body = {"model": "sim-fast", "stream": True, "messages": [{"role": "user", "content": " ".join(["w"] * 200)}]}
        headers = {"Authorization": "Bearer " + token["access_token"]}
        with (
            httpx.Client() as client,
            client.stream("POST", sim.base_url + "/chat/completions", json=body, headers=headers) as response,
        ):
            next(response.iter_lines())
            assert sim.streams_active == 1
        deadline = time.monotonic() + 2
        while sim.streams_active and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (sim.streams_active, sim.streams_aborted) == (0, 1)
