"""Issue 15: the API honours or refuses each request field, counts usage, keeps paths private and
answers every error in OpenAI's shape. In-process (TestClient and the official openai client over it)."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import AIMessage

from orchestrator import Settings, build_app
from orchestrator.errors import ConfigError
from orchestrator.result import Answer
from orchestrator.serve import (
    SERVED_MODEL,
    ServeLimits,
    bind_address,
    check_bind,
    create_api,
    default_allowed_hosts,
    host_allowed,
    without_paths,
)
from tests.unit.test_app_routes import FakeRetriever, RecordingModel, chunk, model

LOCAL = "http://127.0.0.1"


class SamplingRecorder(RecordingModel):
    """A fake chat model that also records the call options it was given (max_tokens, stop, ...)."""

    options: list = []

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        self.options.append({"stop": stop, **kwargs})
        yield from super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)


def app_with(tmp_path, chat=None, docs=()):
    return build_app(
        Settings(data_dir=tmp_path, relevance_threshold=0.5),
        chat_model=chat or model("Hello there!"),
        embeddings=DeterministicFakeEmbedding(size=16),
        retriever=FakeRetriever(list(docs)),
    )


def client_for(app, **limits):
    return TestClient(create_api(app, None, ServeLimits(**limits)), base_url=LOCAL, raise_server_exceptions=False)


def ask(client, question, **extra):
    return client.post(
        "/v1/chat/completions",
        json={"model": SERVED_MODEL, "messages": [{"role": "user", "content": question}], **extra},
    )


def assert_openai_error(response, status, param=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"] and error["code"]
    if param is not None:
        assert error["param"] == param, error
    return error


# --- 2: questions that need no LLM do not wait for the generation slot ------------------------------


class ChatBlocksMathDoesNot:
    """The real app for math; chat questions wait until the test releases them."""

    def __init__(self, real):
        self.real, self.release, self.settings = real, threading.Event(), real.settings

    def needs_model(self, question, route=None):
        return self.real.needs_model(question, route)

    def stream(self, payload):
        if payload["route"] == "chat":
            self.release.wait(10)
            yield Answer(question=payload["question"], answer="done")
            return
        yield from self.real.stream(payload)


def test_math_is_answered_while_the_generation_queue_is_full_and_429_says_when_to_retry(tmp_path):
    app = ChatBlocksMathDoesNot(app_with(tmp_path))
    client = client_for(app, max_waiting=0)
    with ThreadPoolExecutor(24) as pool:
        generating = pool.submit(ask, client, "tell me a story", route="chat")
        while client.get("/health").json()["busy"] < 1:
            time.sleep(0.01)
        refused = ask(client, "another story", route="chat")
        assert_openai_error(refused, 429)
        assert refused.headers["Retry-After"].isdigit()
        maths = list(pool.map(lambda i: ask(client, f"What is {1000 + i} * 37?"), range(20)))
        assert [r.status_code for r in maths] == [200] * 20
        assert str((1000 + 7) * 37) in maths[7].json()["choices"][0]["message"]["content"]
        app.release.set()
        assert generating.result(10).status_code == 200


class HeldLlama:
    """A stand-in llama_cpp.Llama whose streamed generations wait for the test between tokens."""

    def __init__(self):
        self.go = threading.Event()

    def create_chat_completion(self, messages, stream=False, **params):
        def chunks():
            for token in ["once ", "upon ", "a time"]:
                self.go.wait(20)
                yield {"choices": [{"delta": {"content": token}, "finish_reason": None}]}

        if stream:
            return chunks()
        text = "".join(c["choices"][0]["delta"]["content"] for c in chunks())
        return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def test_refusals_decided_before_generation_and_math_do_not_wait_for_a_full_generation_queue(tmp_path):
    """Item 2: only requests that call the model take a generation slot; the rest get 200, not 429."""
    from orchestrator import llm

    held = HeldLlama()
    chat = llm.chat_model_class().model_construct(client=held, model_path="fake.gguf")
    client = client_for(
        app_with(tmp_path, chat, docs=[chunk("Penguins nest on rocky shores.", "/srv/kb/birds.txt", 0.1)]),
        max_waiting=1,
    )
    with ThreadPoolExecutor(8) as pool:
        generating = [pool.submit(ask, client, f"tell me story {n}", route="chat", stream=n == 1) for n in range(2)]
        deadline = time.monotonic() + 10
        while client.get("/health").json()["busy"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.get("/health").json()["busy"] == 2  # one generating, one waiting: the queue is full
        for stream in (False, True):
            refused = ask(client, "a third story", route="chat", stream=stream)
            assert_openai_error(refused, 429)
            assert refused.headers["Retry-After"].isdigit()
        started = time.monotonic()
        for stream in (False, True):
            unanswerable = ask(client, "Which ports did the 1904 treaty open?", route="docs", stream=stream)
            assert unanswerable.status_code == 200, unanswerable.text
            assert "don't contain an answer" in unanswerable.text
            math = ask(client, "What is 1234 * 37?", stream=stream)
            assert math.status_code == 200 and str(1234 * 37) in math.text
        assert time.monotonic() - started < 5
        held.go.set()
        assert [g.result(20).status_code for g in generating] == [200, 200]
    assert client.get("/health").json()["busy"] == 0


# --- 4: bounded history and time per request --------------------------------------------------------


def test_only_recent_history_is_read(tmp_path):
    chat = model("Fine.")
    client = client_for(app_with(tmp_path, chat), max_history_chars=2000)
    turns = []
    for i in range(100):
        turns += [
            {"role": "user", "content": f"turn {i:03d} " + "x" * 40},
            {"role": "assistant", "content": f"reply {i:03d}"},
        ]
    response = client.post(
        "/v1/chat/completions", json={"messages": [*turns, {"role": "user", "content": "and now?"}], "route": "chat"}
    )
    assert response.status_code == 200
    prompt = chat.prompts[0]
    assert "turn 099" in prompt and "turn 000" not in prompt
    assert len(prompt) < 3000


def test_history_is_trimmed_to_the_token_budget_newest_first(tmp_path):
    chat = model("Fine.")
    client = client_for(app_with(tmp_path, chat), max_history_tokens=100)
    turns = []
    for i in range(30):
        turns += [
            {"role": "user", "content": f"turn {i:03d} " + "x" * 40},
            {"role": "assistant", "content": f"reply {i:03d}"},
        ]
    response = client.post(
        "/v1/chat/completions", json={"messages": [*turns, {"role": "user", "content": "and now?"}], "route": "chat"}
    )
    assert response.status_code == 200
    kept = [i for i in range(30) if f"turn {i:03d}" in chat.prompts[0]]
    assert kept and kept == list(range(kept[0], 30)) and len(kept) < 5  # 100 tokens: the last few turns only
    assert response.json()["usage"]["prompt_tokens"] < 120


class EndlessApp:
    """Generates a token every 20 ms for up to 20 s, and records whether it was stopped early."""

    def __init__(self):
        self.stopped = threading.Event()

    def stream(self, payload):
        try:
            for _ in range(1000):
                time.sleep(0.02)
                yield "tok "
            yield Answer(question=payload["question"], answer="tok " * 1000)
        finally:
            self.stopped.set()


def test_a_request_is_stopped_at_the_time_limit_with_what_it_produced(tmp_path):
    app = EndlessApp()
    client = client_for(app, max_request_s=0.5)
    started = time.monotonic()
    response = ask(client, "go on forever", route="chat")
    assert time.monotonic() - started < 5
    body = response.json()
    assert response.status_code == 200 and body["choices"][0]["finish_reason"] == "length"
    assert body["choices"][0]["message"]["content"].startswith("tok tok")
    assert "time limit" in body["orchestrator"]["error"]
    assert app.stopped.wait(2)
    with client.stream(
        "POST", "/v1/chat/completions", json={"messages": [{"role": "user", "content": "more"}], "stream": True}
    ) as streamed:
        events = [line.removeprefix("data: ") for line in streamed.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and json.loads(events[-2])["choices"][0]["finish_reason"] == "length"


# --- 5: honour the sampling options, validate them, refuse what is not supported --------------------


def test_sampling_options_reach_the_model(tmp_path):
    chat = SamplingRecorder(messages=iter([AIMessage("Hi.")]), prompts=[], options=[])
    client = client_for(app_with(tmp_path, chat))
    response = ask(client, "hello", route="chat", max_tokens=5, temperature=0.3, top_p=0.5, stop=["\n"], seed=7)
    assert response.status_code == 200, response.text
    expected = {"max_tokens": 5, "temperature": 0.3, "top_p": 0.5, "stop": ["\n"], "seed": 7}
    assert {name: chat.options[-1].get(name) for name in expected} == expected


def test_json_response_format_is_passed_to_llama_cpp_as_a_grammar_request(tmp_path):
    chat = SamplingRecorder(messages=iter([AIMessage('{"a": 1}')]), prompts=[], options=[])
    client = client_for(app_with(tmp_path, chat))
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    response = ask(
        client, "What is 2+2?", response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )
    assert response.status_code == 200 and response.json()["orchestrator"]["route"] == "chat"  # not the math tool
    assert chat.options[-1]["response_format"] == {"type": "json_object", "schema": schema}
    assert_openai_error(
        ask(client, "hi", route="docs", response_format={"type": "json_object"}), 400, "response_format"
    )
    assert_openai_error(ask(client, "hi", response_format={"type": "xml"}), 400, "response_format")


@pytest.mark.parametrize(
    "field, value",
    [
        ("temperature", 99),
        ("temperature", -5),
        ("temperature", "hot"),
        ("temperature", float("nan")),
        ("temperature", True),
        ("top_p", 1.5),
        ("top_p", "0.5"),
        ("max_tokens", 0),
        ("max_tokens", "5"),
        ("seed", 1.5),
        ("stop", 5),
        ("stop", ["a", "b", "c", "d", "e"]),
        ("stream", "yes"),
        ("n", 0),
    ],
)
def test_invalid_values_get_400_naming_the_parameter(tmp_path, field, value):
    client = client_for(app_with(tmp_path))
    body = {"messages": [{"role": "user", "content": "hi"}], field: value}
    response = client.post(
        "/v1/chat/completions", content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert_openai_error(response, 400, field)


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"n": 3}, "n"),
        ({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required"}, "tool_choice"),
        (
            {
                "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "f"}},
            },
            "tool_choice",
        ),
    ],
)
def test_unsupported_requests_are_refused_not_ignored(tmp_path, extra, param):
    error = assert_openai_error(ask(client_for(app_with(tmp_path)), "hi", **extra), 400, param)
    assert "n=1" in error["message"] or "tools" in error["message"]


def test_images_are_refused(tmp_path):
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    response = client_for(app_with(tmp_path)).post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": content}]}
    )
    assert "image_url" in assert_openai_error(response, 400)["message"]


# --- 6: usage ---------------------------------------------------------------------------------------


def test_usage_counts_prompt_and_completion_tokens_on_math_and_chat(tmp_path):
    client = client_for(app_with(tmp_path, model("Hello there, my friend!")))
    math = ask(client, "What is 40366 / 439?").json()["usage"]
    assert math["prompt_tokens"] > 0 and math["completion_tokens"] > 0
    assert math["total_tokens"] == math["prompt_tokens"] + math["completion_tokens"]
    chat = ask(client, "Say hello to me please", route="chat").json()["usage"]
    assert chat["prompt_tokens"] > 0 and chat["completion_tokens"] > 0


# --- 7: client mistakes are 400s, not 500s ----------------------------------------------------------


def test_lone_surrogate_is_a_400(tmp_path):
    raw = '{"messages": [{"role": "user", "content": "Tell me \\ud800 a joke"}]}'
    response = client_for(app_with(tmp_path)).post(
        "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
    )
    assert "surrogate" in assert_openai_error(response, 400)["message"]


def test_a_question_larger_than_the_context_is_a_400(tmp_path):
    response = ask(client_for(app_with(tmp_path)), "Tell me about " + "words " * 10_000)
    error = assert_openai_error(response, 400, "messages")
    assert error["code"] == "context_length_exceeded"
    # Just under the context without the answer's room: still a 400, even when max_tokens is small.
    near = ask(client_for(app_with(tmp_path)), "Tell me about " + "word " * 1560, route="chat", max_tokens=5)
    assert assert_openai_error(near, 400, "messages")["code"] == "context_length_exceeded"


# --- 8: an error after the stream started, as the official client sees it ---------------------------


class FailsMidStream:
    def stream(self, payload):
        yield "Once upon "
        raise RuntimeError("boom in /home/someone/secret.gguf")


def openai_client(api):
    from openai import OpenAI

    return OpenAI(
        base_url=f"{LOCAL}/v1",
        api_key="unused",
        max_retries=0,
        http_client=TestClient(api, base_url=LOCAL, raise_server_exceptions=False),
    )


def test_openai_client_raises_api_error_on_a_mid_stream_failure():
    import openai

    client = openai_client(create_api(FailsMidStream()))
    stream = client.chat.completions.create(
        model=SERVED_MODEL, stream=True, messages=[{"role": "user", "content": "a story"}]
    )
    received = []
    with pytest.raises(openai.APIError) as raised:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Once upon " and "Internal error" in raised.value.message
    assert "secret" not in raised.value.message


def test_openai_client_reads_usage_and_finish_reason(tmp_path):
    client = openai_client(create_api(app_with(tmp_path, model("Hello there, friend!"))))
    completion = client.chat.completions.create(
        model=SERVED_MODEL, messages=[{"role": "user", "content": "What is 2**10?"}]
    )
    assert "1024" in completion.choices[0].message.content and completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model=SERVED_MODEL,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"route": "chat"},
            messages=[{"role": "user", "content": "hi"}],
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there, friend!"
    assert chunks[-1].usage.completion_tokens > 0 and chunks[-2].choices[0].finish_reason == "stop"


# --- 9 and 10: every error in OpenAI's shape; body limit whatever the FastAPI version ---------------


def test_every_error_body_has_openai_shape(tmp_path):
    client = client_for(app_with(tmp_path), max_body_bytes=1024)
    assert_openai_error(client.get("/v1/nothing"), 404)
    assert_openai_error(client.get("/v1/chat/completions"), 405)
    assert_openai_error(ask(client, "x" * 2000), 413)
    assert_openai_error(
        client.post("/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}), 400
    )
    assert_openai_error(
        client.post("/v1/chat/completions", json={"messages": [{"role": "robot", "content": "hi"}]}),
        400,
        "messages[0].role",
    )
    assert_openai_error(client.post("/v1/chat/completions", json={}), 400, "messages")
    assert_openai_error(ask(client, "hi", model="gpt-4o"), 404, "model")


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all(tmp_path):
    sent = []

    def body():
        for _ in range(100):
            sent.append(1)
            yield b"x" * 1024

    response = client_for(app_with(tmp_path), max_body_bytes=4096).post(
        "/v1/chat/completions", content=body(), headers={"content-type": "application/json"}
    )
    assert_openai_error(response, 413)
    declared = client_for(app_with(tmp_path), max_body_bytes=4096).post(
        "/v1/chat/completions", content=b"{}", headers={"content-type": "application/json", "content-length": "5000000"}
    )
    assert_openai_error(declared, 413)


# --- 11: DNS rebinding ------------------------------------------------------------------------------


def test_only_loopback_host_names_are_answered_on_a_loopback_bind(tmp_path):
    client = TestClient(create_api(app_with(tmp_path)), base_url=LOCAL)
    for host in ("rebind.attacker.example:8765", "rebind.attacker.example", "192.168.1.5:8000", "[::2]:80"):
        assert_openai_error(client.get("/v1/models", headers={"Host": host}), 400, "Host")
    for host in ("localhost:8765", "127.0.0.1", "[::1]:8000", "LOCALHOST"):
        assert client.get("/v1/models", headers={"Host": host}).status_code == 200, host
    anywhere = TestClient(create_api(app_with(tmp_path), limits=ServeLimits(allowed_hosts=("*",))), base_url=LOCAL)
    assert anywhere.get("/v1/models", headers={"Host": "my-server.lan"}).status_code == 200
    assert default_allowed_hosts("127.0.0.1") == default_allowed_hosts("[::1]") == ("localhost", "127.0.0.1", "[::1]")
    assert default_allowed_hosts("0.0.0.0") == ("*",)
    assert not host_allowed(None, ("localhost",)) and host_allowed("api.lan:80", ("api.lan",))


# --- 12: no server paths in responses ---------------------------------------------------------------


def test_sources_tool_calls_and_errors_carry_file_names_not_server_paths(tmp_path):
    docs = [
        chunk(
            "The Denver Broncos won Super Bowl 50 against the Carolina Panthers.",
            "/home/alice/private/kb/sb50.txt",
            0.8,
        ),
        chunk("Warsaw is the capital of Poland.", "/home/alice/private/kb/warsaw.txt", 0.0, "c2"),
    ]
    client = client_for(app_with(tmp_path, model("The Denver Broncos won Super Bowl 50 [1]."), docs))
    response = ask(client, "Who won Super Bowl 50?", route="docs")
    assert response.status_code == 200 and "/home/alice" not in response.text
    extra = response.json()["orchestrator"]
    assert extra["sources"][0]["source"] == "sb50.txt"
    assert {entry["source"] for entry in extra["tool_calls"][0]["output"]} <= {"sb50.txt", "warsaw.txt"}


class ErrorWithPath:
    def stream(self, payload):
        yield Answer(
            question=payload["question"], error="llama.cpp could not load /home/alice/models/x.gguf: bad magic"
        )


def test_app_errors_do_not_reveal_paths():
    client = TestClient(create_api(ErrorWithPath()), base_url=LOCAL)
    error = assert_openai_error(ask(client, "hi"), 500)
    assert "/home/alice" not in error["message"] and "x.gguf" in error["message"]
    assert (
        without_paths("see https://example.org/a/b and 40366/439 and 8 /2/3")
        == "see https://example.org/a/b and 40366/439 and 8 /2/3"
    )


# --- 13: keys and IPv6 hosts ------------------------------------------------------------------------


@pytest.mark.parametrize("key", [" " * 16, "\t" * 20, " " + "k" * 20, "k" * 20 + " "])
def test_blank_or_padded_keys_are_refused_at_start(key):
    with pytest.raises(ConfigError, match="whitespace"):
        check_bind("127.0.0.1", key)


def test_bracketed_ipv6_host_is_accepted_and_bound_without_brackets():
    check_bind("[::1]", None)
    assert bind_address("[::1]") == "::1" and bind_address("127.0.0.1") == "127.0.0.1"
    with pytest.raises(ConfigError, match="IPv6"):
        check_bind("[not:an:address]", "k" * 20)


def test_math_request_streams_and_uses_no_generation_slot(tmp_path):
    client = client_for(app_with(tmp_path), max_waiting=0)
    with client.stream(
        "POST", "/v1/chat/completions", json={"messages": [{"role": "user", "content": "2**10"}], "stream": True}
    ) as r:
        text = "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content", "")
            for line in r.iter_lines()
            if line.startswith("data: {")
        )
    assert "1024" in text and client.get("/health").json()["busy"] == 0


def test_cli_refuses_a_blank_key_before_loading_anything():
    import typer
    from typer.testing import CliRunner

    from orchestrator.cli.serve import register

    cli = typer.Typer()
    cli.callback()(lambda: None)
    register(cli)
    result = CliRunner().invoke(
        cli, ["serve", "--host", "[::1]", "--port", "8999"], env={"ORCH_SERVE_API_KEY": " " * 16}
    )
    assert result.exit_code == 1 and "whitespace" in result.output


def test_admitted_requests_generate_one_at_a_time_in_the_order_they_asked():
    from orchestrator.serve import GenerationGate

    gate, stop, order = GenerationGate(max_waiting=4), threading.Event(), []
    assert gate.take_turn(stop)
    waiting = []
    for n in range(4):
        waiting.append(threading.Thread(target=lambda n=n: gate.take_turn(stop) and (order.append(n), gate.end_turn())))
        waiting[-1].start()
        time.sleep(0.05)  # each asks after the one before
    left = threading.Event()
    leaving = threading.Thread(target=lambda: order.append(("left", gate.take_turn(left))))
    leaving.start()
    left.set()  # its client went away while it waited: it never generates and holds no one up
    leaving.join(timeout=5)
    gate.end_turn()
    for thread in waiting:
        thread.join(timeout=5)
    assert order == [("left", False), 0, 1, 2, 3]
    assert gate.take_turn(stop)  # free again
