"""The OpenAI-compatible API over the real app built from fast stand-ins (see test_app_routes.py)."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from langchain_core.embeddings import DeterministicFakeEmbedding

from orchestrator import Settings, build_app
from orchestrator.errors import ConfigError
from orchestrator.result import Answer
from orchestrator.serve import SERVED_MODEL, ServeLimits, check_bind, create_api, is_loopback, key_matches
from tests.unit.test_app_routes import FakeRetriever, model

KEY = "k" * 12 + "-secret-key"


def real_app(tmp_path, *replies):
    return build_app(
        Settings(data_dir=tmp_path),
        chat_model=model(*replies or ("Hello there!",)),
        embeddings=DeterministicFakeEmbedding(size=16),
        retriever=FakeRetriever([]),
    )


LOCAL = "http://127.0.0.1"  # the server answers only loopback host names by default (DNS rebinding)


def client_for(app, api_key=None, **limits):
    return TestClient(create_api(app, api_key, ServeLimits(**limits)), base_url=LOCAL)


def ask(client, question, headers=None, **extra):
    return client.post(
        "/v1/chat/completions",
        headers=headers,
        json={"model": SERVED_MODEL, "messages": [{"role": "user", "content": question}], **extra},
    )


def test_math_answer_with_route_and_tool_calls_in_the_extra_field(tmp_path):
    response = ask(client_for(real_app(tmp_path)), "What is 40366 / 439?")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == SERVED_MODEL
    assert "91.94988" in body["choices"][0]["message"]["content"]
    assert body["orchestrator"]["route"] == "math" and body["orchestrator"]["tool_calls"][0]["tool"] == "math"


def test_history_and_forced_route_reach_the_app(tmp_path):
    chat = model("Your name is Ada.")
    app = build_app(
        Settings(data_dir=tmp_path),
        chat_model=chat,
        embeddings=DeterministicFakeEmbedding(size=16),
        retriever=FakeRetriever([]),
    )
    messages = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "I am Ada."},
        {"role": "assistant", "content": "Hi Ada."},
        {"role": "user", "content": "What is my name?"},
    ]
    response = client_for(app).post("/v1/chat/completions", json={"messages": messages, "route": "chat"})
    assert response.json()["choices"][0]["message"]["content"] == "Your name is Ada."
    prompt = chat.prompts[0]
    assert "I am Ada." in prompt and "Hi Ada." in prompt and "What is my name?" in prompt
    assert "pirate" not in prompt  # the client's system message does not replace the server's


def test_streaming_sends_openai_chunks_then_the_extra_field_then_done(tmp_path):
    with client_for(real_app(tmp_path, "Hello there, friend!")).stream(
        "POST",
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "stream": True, "route": "chat"},
    ) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == "Hello there, friend!" and len(chunks) > 3  # really streamed, piece by piece
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["orchestrator"]["route"] == "chat"


def test_models_and_health(tmp_path):
    client = client_for(real_app(tmp_path))
    assert [m["id"] for m in client.get("/v1/models").json()["data"]] == [SERVED_MODEL]
    assert client.get("/health").json()["status"] == "ok"
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404
    for path in ("/../../etc/passwd", "/static/..%2f..%2fetc%2fpasswd", "/v1/files", "/v1/ingest"):
        assert client.get(path).status_code == 404, path


class FailingApp:
    def stream(self, payload):
        raise RuntimeError("secret path /home/user/model.gguf")
        yield


def test_unexpected_failure_is_a_json_500_without_internals():
    client = TestClient(create_api(FailingApp()), raise_server_exceptions=False, base_url=LOCAL)
    response = ask(client, "hi")
    assert response.status_code == 500 and response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text
    with client.stream(
        "POST", "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "stream": True}
    ) as streamed:
        events = [line for line in streamed.iter_lines() if line.startswith("data: ")]
    assert '"internal_error"' in events[-1] and "secret" not in "".join(events)


def test_api_key_required_when_set(tmp_path):
    client = client_for(real_app(tmp_path), api_key=KEY)
    assert ask(client, "2+2").status_code == 401
    wrong = ask(client, "2+2", headers={"Authorization": "Bearer " + KEY[:-1] + "X"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert client.get("/v1/models").status_code == 401
    assert ask(client, "2+2", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/health").status_code == 200  # liveness stays open for load balancers


def test_key_comparison():
    assert key_matches(f"Bearer {KEY}", KEY) and key_matches(f"bearer  {KEY} ", KEY)
    assert not key_matches(None, KEY) and not key_matches(KEY, KEY) and not key_matches("Basic " + KEY, KEY)


def test_refuses_to_bind_beyond_loopback_without_a_key():
    with pytest.raises(ConfigError, match="without an API key"):
        check_bind("0.0.0.0", None)
    with pytest.raises(ConfigError, match="without an API key"):
        check_bind("::", None)
    with pytest.raises(ConfigError, match="at least 16"):
        check_bind("0.0.0.0", "short")
    check_bind("0.0.0.0", KEY)
    check_bind("127.0.0.1", None)
    assert is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("example.org") and not is_loopback("192.168.1.2")


def test_cli_refuses_to_start_on_all_interfaces_without_a_key(tmp_path):
    import typer
    from typer.testing import CliRunner

    from orchestrator.cli.serve import register

    cli = typer.Typer()
    cli.callback()(lambda: None)
    register(cli)
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "8999"])
    assert result.exit_code == 1 and "without an API key" in result.output


def test_oversized_body_gets_413(tmp_path):
    response = ask(client_for(real_app(tmp_path), max_body_bytes=1024), "x" * 2000)
    assert response.status_code == 413


def test_max_tokens_above_the_cap_is_refused(tmp_path):
    client = client_for(real_app(tmp_path), max_tokens=64)
    response = ask(client, "2+2", max_tokens=65)
    assert response.status_code == 400 and response.json()["error"]["param"] == "max_tokens"
    assert ask(client, "2+2", max_completion_tokens=1000).status_code == 400
    assert ask(client, "2+2", max_tokens=64).status_code == 200


def test_bad_requests_get_openai_style_400s_and_unknown_model_404(tmp_path):
    client = client_for(real_app(tmp_path))
    assert ask(client, "2+2", model="gpt-4o").status_code == 404
    assert ask(client, "2+2", route="telepathy").status_code == 400
    assert client.post("/v1/chat/completions", json={"messages": []}).status_code == 400
    last_not_user = client.post("/v1/chat/completions", json={"messages": [{"role": "assistant", "content": "hi"}]})
    assert last_not_user.status_code == 400 and "last message" in last_not_user.json()["error"]["message"]
    assert (
        client.post(
            "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )


class BlockingApp:
    """Stands in for the app: each answer waits until the test releases it, so requests overlap."""

    def __init__(self):
        self.release = threading.Event()
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def stream(self, payload):
        with self.lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.release.wait(10)
            yield "done"
            yield Answer(question=payload["question"], answer="done")
        finally:
            with self.lock:
                self.running -= 1


def test_concurrency_beyond_the_queue_gets_429_and_generations_never_overlap():
    app = BlockingApp()
    with client_for(app, max_waiting=1) as client, ThreadPoolExecutor(4) as pool:
        admitted = [pool.submit(ask, client, f"q{i}") for i in range(2)]
        while client.get("/health").json()["busy"] < 2:
            threading.Event().wait(0.01)
        rejected = ask(client, "one too many")
        assert rejected.status_code == 429 and rejected.json()["error"]["type"] == "rate_limit_error"
        app.release.set()
        assert [future.result(10).status_code for future in admitted] == [200, 200]
        assert app.most_at_once == 1
        assert client.get("/health").json()["busy"] == 0
        assert ask(client, "after").status_code == 200  # the slots were given back
