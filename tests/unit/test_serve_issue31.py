"""Issue 31, serve items 7-12 and 25: bounded JSON schemas, drafts that stop, the bind address, the
Content-Type, parameters honoured or refused, header sizes, and the app deciding what needs the model.
In-process (TestClient, the official openai client over it) and a real uvicorn server on 127.0.0.1."""

import json
import socket
import time

import pytest
from fastapi.testclient import TestClient
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.messages import AIMessage

from orchestrator import Settings, build_app
from orchestrator.result import Answer
from orchestrator.serve import SERVED_MODEL, ServeLimits, create_api, default_allowed_hosts
from tests.unit.test_app_routes import FakeRetriever, RecordingModel, chunk, model
from tests.unit.test_serve_hardening import SamplingRecorder, assert_openai_error

LOCAL = "http://127.0.0.1"


def app_with(tmp_path, chat=None, docs=()):
    return build_app(
        Settings(data_dir=tmp_path, relevance_threshold=0.5),
        chat_model=chat or model("Hello there!"),
        embeddings=DeterministicFakeEmbedding(size=16),
        retriever=FakeRetriever(list(docs)),
    )


def client_for(app, base_url=LOCAL, **limits):
    return TestClient(create_api(app, None, ServeLimits(**limits)), base_url=base_url, raise_server_exceptions=False)


def ask(client, question, **extra):
    return client.post(
        "/v1/chat/completions",
        json={"model": SERVED_MODEL, "messages": [{"role": "user", "content": question}], **extra},
    )


def json_schema(schema):
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


# --- 7: a JSON schema is bounded before it becomes a grammar; one that cannot become one is a 400 ----------


def nested(depth):
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


HOSTILE_SCHEMAS = {
    "ten million items": {"type": "array", "items": {"type": "integer"}, "minItems": 10_000_000},
    "ten million characters": {"type": "string", "maxLength": 10_000_000},
    "a pattern repeated a million times": {"type": "string", "pattern": "^x{1000000}$"},
    "nested 40 deep": nested(40),
    "a remote reference": {"$ref": "https://schemas.invalid/colour.json"},
    "larger than 8 KiB": {"type": "object", "properties": {f"field{i}": {"type": "string"} for i in range(600)}},
}


@pytest.mark.parametrize("schema", HOSTILE_SCHEMAS.values(), ids=HOSTILE_SCHEMAS.keys())
def test_a_costly_schema_is_refused_before_it_reaches_the_model(tmp_path, schema):
    chat = SamplingRecorder(messages=iter([]), prompts=[], options=[])
    started = time.monotonic()
    response = ask(client_for(app_with(tmp_path, chat)), "Name a colour.", response_format=json_schema(schema))
    assert_openai_error(response, 400, "response_format.json_schema.schema")
    assert time.monotonic() - started < 5 and chat.options == []


@pytest.mark.parametrize(
    "schema",
    [{"$ref": "#/$defs/nope"}, {"type": "foo"}, {"type": "object", "properties": {"a": {"$ref": "#/missing"}}}],
    ids=["a missing definition", "an unknown type", "a missing nested definition"],
)
def test_a_schema_llama_cpp_cannot_convert_is_a_400_not_free_form_json(tmp_path, schema):
    response = ask(client_for(app_with(tmp_path)), "Name a colour.", response_format=json_schema(schema))
    error = assert_openai_error(response, 400, "response_format.json_schema.schema")
    assert "grammar" in error["message"]


def test_an_ordinary_schema_with_counts_within_the_limits_still_reaches_the_model(tmp_path):
    chat = SamplingRecorder(messages=iter([AIMessage('{"colours": ["red"]}')]), prompts=[], options=[])
    schema = {
        "type": "object",
        "properties": {"colours": {"type": "array", "items": {"type": "string", "maxLength": 40}, "maxItems": 5}},
        "required": ["colours"],
    }
    response = ask(client_for(app_with(tmp_path, chat)), "Name colours.", response_format=json_schema(schema))
    assert response.status_code == 200, response.text
    assert chat.options[-1]["response_format"] == {"type": "json_object", "schema": schema}


# --- 8: a docs draft stops at the time limit and when its client leaves -------------------------------------

FERRY = "The Orvane ferry leaves the north pier at seven each morning."


class SlowDraftModel(RecordingModel):
    """Generates a long reply a token every 20 ms, counting the tokens it produced."""

    produced: list = []

    def _stream(self, messages, *args, **kwargs):
        for piece in super()._stream(messages, *args, **kwargs):
            time.sleep(0.02)
            self.produced.append(piece)
            yield piece


def slow_docs_app(tmp_path):
    import itertools

    chat = SlowDraftModel(messages=itertools.cycle([AIMessage("seven " * 400)]), prompts=[], produced=[])
    return app_with(tmp_path, chat, [chunk(FERRY, "ferry.txt", 0.9)]), chat


def test_a_docs_draft_stops_at_the_time_limit_and_keeps_its_route(tmp_path):
    app, chat = slow_docs_app(tmp_path)
    client = client_for(app, max_request_s=1.0)
    started = time.monotonic()
    # an explanation: the docs route drafts it with the model (a factoid would be quoted without one)
    response = ask(client, "Why does the Orvane ferry leave the north pier each morning?", route="docs")
    took = time.monotonic() - started
    body = response.json()
    assert response.status_code == 200, body
    assert took < 4, took  # the draft alone would take 16 s
    assert body["choices"][0]["finish_reason"] == "length"
    extra = body["orchestrator"]
    assert extra["route"] == "docs" and extra["latency_s"] >= 0.9 and "time limit" in extra["error"]
    produced = len(chat.produced)
    time.sleep(0.3)
    assert len(chat.produced) == produced  # the generation really stopped


def test_a_streamed_docs_draft_stops_at_the_time_limit_with_its_route(tmp_path):
    app, _chat = slow_docs_app(tmp_path)
    started = time.monotonic()
    with client_for(app, max_request_s=1.0).stream(
        "POST",
        "/v1/chat/completions",
        json={
            "messages": [{"role": "user", "content": "Why does the Orvane ferry leave the north pier each morning?"}],
            "stream": True,
            "route": "docs",
        },
    ) as response:
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert time.monotonic() - started < 4
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["choices"][0]["finish_reason"] == "length" and last["orchestrator"]["route"] == "docs"
    assert last["orchestrator"]["latency_s"] >= 0.9


def test_a_client_that_leaves_during_a_docs_draft_frees_the_model(tmp_path):
    from tests.integration.test_serve_abuse import running_server

    app, chat = slow_docs_app(tmp_path)
    with running_server(app) as (_server, port):
        body = json.dumps(
            {"messages": [{"role": "user", "content": "When does the Orvane ferry leave?"}], "route": "docs"}
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            time.sleep(0.8)  # the draft is generating
        left = time.monotonic()
        while time.monotonic() - left < 3:
            produced = len(chat.produced)
            time.sleep(0.3)
            if len(chat.produced) == produced:
                break
        assert len(chat.produced) == produced and time.monotonic() - left < 3, len(chat.produced)
        assert produced < 200  # far from the 800 pieces of the whole draft


# --- 9: the bind address is always a host the server answers to ---------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.2", "127.5.6.7", "::1", "[::1]"])
def test_the_bind_address_is_an_allowed_host(tmp_path, host):
    bare = host.strip("[]")
    shown = f"[{bare}]" if ":" in bare else bare  # as the printed URL, and so the Host header, write it
    client = client_for(app_with(tmp_path), allowed_hosts=default_allowed_hosts(host))
    assert client.get("/v1/models", headers={"Host": f"{shown}:8000"}).status_code == 200
    assert client.get("/v1/models", headers={"Host": "attacker.invalid:8000"}).status_code == 400


def test_the_cli_serves_the_url_it_prints_for_an_explicit_allowed_host():
    from orchestrator.serve import allowed_hosts

    assert "127.0.0.2" in allowed_hosts("127.0.0.2", ["localhost"])
    assert allowed_hosts("0.0.0.0", ["*"]) == ("*",)


# --- 10: a POST must say its body is JSON ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"}]
)
def test_a_post_that_is_not_declared_json_gets_415(tmp_path, headers):
    client = client_for(app_with(tmp_path))
    body = json.dumps({"messages": [{"role": "user", "content": "What is 2+2?"}]})
    response = client.post("/v1/chat/completions", content=body, headers=headers)
    assert_openai_error(response, 415, "Content-Type")


def test_json_with_a_charset_is_accepted(tmp_path):
    client = client_for(app_with(tmp_path))
    body = json.dumps({"messages": [{"role": "user", "content": "What is 2+2?"}]})
    response = client.post(
        "/v1/chat/completions", content=body, headers={"Content-Type": "Application/JSON; charset=utf-8"}
    )
    assert response.status_code == 200, response.text


# --- 11: parameters honoured or refused; stop ""; usage only when asked; models.retrieve; backend down ------


@pytest.mark.parametrize(
    "extra, param",
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"presence_penalty": 3}, "presence_penalty"),
        ({"frequency_penalty": "high"}, "frequency_penalty"),
    ],
)
def test_parameters_the_server_cannot_honour_are_refused(tmp_path, extra, param):
    assert_openai_error(ask(client_for(app_with(tmp_path)), "hi", **extra), 400, param)


def test_penalties_reach_the_model_and_an_empty_stop_is_ignored(tmp_path):
    chat = SamplingRecorder(messages=iter([AIMessage("Blue and green.")]), prompts=[], options=[])
    response = ask(
        client_for(app_with(tmp_path, chat)),
        "Name two colours.",
        route="chat",
        presence_penalty=0.5,
        frequency_penalty=-0.25,
        stop="",
        logprobs=False,
    )
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"] == "Blue and green."
    options = chat.options[-1]
    assert options["presence_penalty"] == 0.5 and options["frequency_penalty"] == -0.25 and not options["stop"]


def stream_chunks(client, **extra):
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}], "stream": True, "route": "chat", **extra},
    ) as response:
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


def test_a_stream_carries_usage_only_when_asked(tmp_path):
    client = client_for(app_with(tmp_path, model("Hello there, friend!")))
    assert all(chunk.get("usage") is None for chunk in stream_chunks(client))
    chunks = stream_chunks(client, stream_options={"include_usage": True})
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["orchestrator"]["route"] == "chat"
    assert all(chunk.get("usage") is None for chunk in chunks[:-1])
    assert_openai_error(ask(client, "hi", stream_options={"include_usage": True}), 400, "stream_options")


def test_the_openai_client_retrieves_the_served_model(tmp_path):
    from openai import NotFoundError

    from tests.unit.test_serve_hardening import openai_client

    client = openai_client(create_api(app_with(tmp_path)))
    assert client.models.retrieve(SERVED_MODEL).id == SERVED_MODEL
    with pytest.raises(NotFoundError):
        client.models.retrieve("gpt-4o")


class BackendDownApp:
    """Its chat model's server cannot be reached: each request raises what langchain-openai raises."""

    def stream(self, payload):
        import httpx
        import openai

        raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))
        yield  # a generator, like the app's stream


def test_a_backend_that_is_down_is_a_503_and_the_connection_stays_usable():
    from tests.integration.test_serve_abuse import running_server

    with running_server(BackendDownApp()) as (_server, port):
        body = json.dumps({"messages": [{"role": "user", "content": "Tell me a story."}]}).encode()
        request = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            replies = []
            for _ in range(2):  # the same keep-alive connection, twice
                sock.sendall(request)
                replies.append(read_response(sock))
    for head, payload in replies:
        assert head.startswith(b"HTTP/1.1 503") and b"connection: close" not in head.lower(), head
        assert json.loads(payload)["error"]["code"] == "backend_unavailable"


def read_response(sock) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest[:length]


def test_a_backend_that_is_down_mid_stream_is_reported_in_band_as_503():
    chunks = []
    with client_for(BackendDownApp()).stream(
        "POST", "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}], "stream": True}
    ) as response:
        chunks = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert json.loads(chunks[-1].removeprefix("data: "))["error"]["code"] == "backend_unavailable"


# --- 12: headers over 16 KiB get 431 whatever their size and however they arrive ------------------------------


@pytest.mark.parametrize("size", [17 * 1024, 64 * 1024, 190 * 1024, 1024 * 1024])
def test_headers_over_the_limit_get_431_at_every_size(size):
    from tests.integration.test_serve_abuse import TokenApp, json_body, raw_request, running_server

    with running_server(TokenApp(), max_header_bytes=16 * 1024) as (_server, port):
        header = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
        raw = raw_request(port, header)
        assert raw.startswith(b"HTTP/1.1 431"), raw[:200]
        assert json_body(raw)["error"]["code"] == "headers_too_large"
        fine = raw_request(port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Fine: " + b"a" * 8000 + b"\r\n\r\n")
        assert fine.startswith(b"HTTP/1.1 200"), fine[:200]


# --- 25: the app, not the server, says whether a question needs the model -----------------------------------


class CountingApp:
    """Says which questions need the model; records that the server asked it."""

    def __init__(self):
        self.asked: list = []

    def needs_model(self, question, route=None):
        self.asked.append((question, route))
        return question != "plain"

    def stream(self, payload):
        yield Answer(question=payload["question"], answer="ok", route="math")


def test_the_server_asks_the_app_whether_a_question_needs_the_model():
    app = CountingApp()
    client = client_for(app, max_waiting=0)
    gate = client.app.state.gate
    while gate.try_admit():  # every generation slot taken
        pass
    assert ask(client, "plain").status_code == 200  # the app said: no model, so no slot needed
    assert ask(client, "What is the weather like?").status_code == 429
    assert app.asked == [("plain", None), ("What is the weather like?", None)]


@pytest.mark.parametrize(
    "question, route, needs",
    [
        ("What is 40366 / 439?", None, False),
        ("/math 2**10", None, False),
        ("What is 2+2?", "chat", True),
        ("/web What is 2+2?", None, True),
        ("Tell me about the sea.", None, True),
        ("What is 2+2?", "auto", False),
    ],
)
def test_the_app_says_which_questions_need_the_model(tmp_path, question, route, needs):
    assert app_with(tmp_path).needs_model(question, route) is needs


# --- 27: a request with a seed gives the same text each time: its prompt is evaluated afresh -----------------


class CachingLlama:
    """A stand-in llama_cpp.Llama that records, for each generation, whether its prompt cache was cleared first."""

    def __init__(self):
        self.cached_tokens = 30  # an earlier prompt is in the cache
        self.fresh: list = []

    def reset(self):
        self.cached_tokens = 0

    def create_chat_completion(self, messages, stream=False, **params):
        self.fresh.append(self.cached_tokens == 0)
        self.cached_tokens = 30
        if stream:
            return iter([{"choices": [{"delta": {"content": "Teal."}, "finish_reason": "stop"}]}])
        return {"choices": [{"message": {"role": "assistant", "content": "Teal."}, "finish_reason": "stop"}]}


@pytest.mark.parametrize("streamed", [True, False])
def test_a_seeded_generation_never_starts_from_a_cached_prompt(streamed):
    from orchestrator import llm

    client = CachingLlama()
    chat = llm.chat_model_class().model_construct(client=client, model_path="fake.gguf", streaming=False)

    def generate(model):
        return (
            "".join(c.content for c in model.stream("Name a colour.")) if streamed else model.invoke("Name a colour.")
        )

    for _ in range(3):
        generate(chat.bind(seed=1234, temperature=1.5))
    assert client.fresh == [True, True, True]
    generate(chat)
    assert client.fresh[-1] is False  # without a seed the cache is kept (it saves prompt evaluation)
