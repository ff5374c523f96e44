"""`orchestrator serve` as a real server on 127.0.0.1 with the real default model, driven by the official openai client."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

KEY = "integration-test-key-0123456789"

# The CLI group as `orchestrator` will have it, built here so the test does not depend on the lead's wiring.
SERVE_CLI = (
    "import typer; from orchestrator.cli.serve import register; "
    "cli = typer.Typer(); cli.callback()(lambda: None); register(cli); cli()"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(process, port: int, timeout_s: float = 300.0) -> None:
    # Generous: on a 2-core machine with a load average of 20, the server took over 120 s to start.
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited early: {process.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("server did not become healthy in time")


@pytest.fixture
def server(model_env, tmp_path):
    port = free_port()
    env = {**os.environ, "ORCH_MAX_TOKENS": "24", "ORCH_TEMPERATURE": "0", "ORCH_SERVE_API_KEY": KEY}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(process, port)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_openai_client_non_streaming_streaming_models_and_sigterm(server):
    from openai import AuthenticationError, OpenAI

    process, port = server
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=120)

    assert [m.id for m in client.models.list()] == ["orchestrator"]

    math = client.chat.completions.create(
        model="orchestrator", messages=[{"role": "user", "content": "What is 40366 / 439?"}]
    )
    assert "91.94988" in math.choices[0].message.content
    assert math.model_extra["orchestrator"]["route"] == "math"

    stream = client.chat.completions.create(
        model="orchestrator",
        stream=True,
        extra_body={"route": "chat"},
        messages=[
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Hello Ada!"},
            {"role": "user", "content": "Say hello to me."},
        ],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip() and len(chunks) > 3  # the real model streamed several pieces
    assert chunks[-1].model_extra["orchestrator"]["route"] == "chat"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")

    with pytest.raises(AuthenticationError):
        OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong-key-wrong-key", max_retries=0).models.list()

    # SIGTERM while an answer is streaming: the answer still completes, then the server exits.
    streaming = client.chat.completions.create(
        model="orchestrator",
        stream=True,
        extra_body={"route": "chat"},
        messages=[{"role": "user", "content": "Tell me about the sea."}],
    )
    first = next(iter(streaming))
    process.send_signal(signal.SIGTERM)
    rest = list(streaming)
    assert first.choices[0].delta.role == "assistant" and rest[-1].model_extra["orchestrator"]["route"] == "chat"
    # uvicorn re-raises the signal after its graceful shutdown, so the exit status is SIGTERM's
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    log = process.stderr.read()
    assert "Waiting for application shutdown" in log and "Application shutdown complete" in log, log


def test_openai_client_gets_what_it_asked_for_from_the_real_model(server):
    """Issue 15 items 5 and 6 with the real model: max_tokens, seed, JSON output and usage are honoured."""
    import json

    from openai import BadRequestError, OpenAI

    _process, port = server
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=120)
    chat = {"model": "orchestrator", "extra_body": {"route": "chat"}}

    short = client.chat.completions.create(
        messages=[{"role": "user", "content": "Tell me about the sea."}], max_tokens=5, **chat
    )
    assert short.usage.completion_tokens <= 5 and short.choices[0].finish_reason == "length"
    assert (
        short.usage.prompt_tokens > 0
        and short.usage.total_tokens == short.usage.prompt_tokens + short.usage.completion_tokens
    )

    math = client.chat.completions.create(
        model="orchestrator", messages=[{"role": "user", "content": "What is 2**10?"}]
    )
    assert (
        "1024" in math.choices[0].message.content and math.usage.completion_tokens > 0 and math.usage.prompt_tokens > 0
    )

    def sampled(seed: int) -> str:
        return (
            client.chat.completions.create(
                messages=[{"role": "user", "content": "Name a colour."}],
                temperature=1.5,
                seed=seed,
                max_tokens=12,
                **chat,
            )
            .choices[0]
            .message.content
        )

    first = sampled(1234)
    assert sampled(1234) == first  # the seed is honoured...
    assert any(sampled(seed) != first for seed in (1, 2, 3))  # ...and so is the temperature (the server's is 0)

    schema = {"type": "object", "properties": {"colour": {"type": "string", "maxLength": 12}}, "required": ["colour"]}
    structured = client.chat.completions.create(
        model="orchestrator",
        max_tokens=24,
        messages=[{"role": "user", "content": "Name a colour as JSON."}],
        response_format={"type": "json_schema", "json_schema": {"name": "colour", "schema": schema}},
    )
    assert isinstance(json.loads(structured.choices[0].message.content)["colour"], str)

    for bad in ({"temperature": 99}, {"n": 3}, {"max_tokens": 100000}):
        with pytest.raises(BadRequestError):
            client.chat.completions.create(model="orchestrator", messages=[{"role": "user", "content": "hi"}], **bad)


def test_langchain_chat_openai_invoke_stream_and_a_batch_of_8_with_retries(server):
    """Issue 15 acceptance: langchain_openai.ChatOpenAI against the server; 429s are retried by the client."""
    from langchain_openai import ChatOpenAI

    _process, port = server
    llm = ChatOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=KEY,
        model="orchestrator",
        max_retries=8,
        timeout=120,
        stream_usage=True,
        extra_body={"route": "chat"},
    )

    reply = llm.invoke("Say hello.")
    assert reply.content.strip() and reply.response_metadata["finish_reason"] in ("stop", "length")
    assert reply.usage_metadata["input_tokens"] > 0 and reply.usage_metadata["output_tokens"] > 0

    chunks = list(llm.stream("Say hello again."))
    assert len(chunks) > 3 and "".join(c.content for c in chunks).strip()
    assert sum(c.usage_metadata["output_tokens"] for c in chunks if c.usage_metadata) > 0

    import httpx

    statuses = []
    counted = httpx.Client(
        timeout=120, event_hooks={"response": [lambda response: statuses.append(response.status_code)]}
    )
    batch_llm = ChatOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=KEY,
        model="orchestrator",
        max_retries=8,
        http_client=counted,
        extra_body={"route": "chat"},
    )
    answers = batch_llm.batch([f"Say the word {word}." for word in "abcdefgh"], config={"max_concurrency": 8})
    assert len(answers) == 8 and all(a.content.strip() for a in answers)
    assert all(
        a.response_metadata["finish_reason"] in ("stop", "length") and a.usage_metadata["output_tokens"] > 0
        for a in answers
    )
    assert statuses.count(200) == 8 and 429 in statuses  # the queue was full at times; the client's retries got through

    math = ChatOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, model="orchestrator", max_retries=0, timeout=120
    )
    sums = math.batch([f"What is {i} * 1000?" for i in range(8)], config={"max_concurrency": 8})
    assert [str(i * 1000) in sums[i].content for i in range(8)] == [True] * 8  # no LLM: no 429, no retries needed


def test_refusals_and_math_get_200_while_every_generation_slot_is_taken(model_env, tmp_path):
    """Issue 15 item 2: routing, retrieval and a refusal decided before generation never wait for a slot.

    Three slow streamed generations fill the slots (one generating, two queued); a fourth chat
    request gets 429, while an unanswerable docs question and a math question get 200 at once,
    and all three generations are still running when they do.
    """
    import threading

    import httpx

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lighthouses.txt").write_text(
        "The harbour lighthouse was built of granite in 1871. Its lamp burned whale oil until 1902, "
        "when it was converted to kerosene. The keeper's cottage stands beside the tower.\n"
    )
    env = {**os.environ, "ORCH_MAX_TOKENS": "256", "ORCH_TEMPERATURE": "0", "ORCH_DATA_DIR": str(tmp_path / "data")}
    subprocess.run(
        [sys.executable, "-m", "orchestrator", "ingest", str(docs)], env=env, check=True, capture_output=True
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE_CLI, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def story(n: int, ended: list) -> None:
        body = {
            "messages": [{"role": "user", "content": f"Write a very long story number {n} about a lighthouse keeper."}],
            "route": "chat",
            "stream": True,
        }
        with httpx.stream("POST", f"{base}/v1/chat/completions", json=body, timeout=300) as response:
            ended.append((response.status_code, "".join(response.iter_text())))

    def ask(question: str, **extra) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        response = httpx.post(
            f"{base}/v1/chat/completions",
            timeout=60,
            json={"messages": [{"role": "user", "content": question}], **extra},
        )
        return response, time.monotonic() - started

    try:
        wait_until_healthy(process, port)
        ask("What is 2 + 2?")  # warm the math worker
        ended: list = []
        stories = [threading.Thread(target=story, args=(n, ended)) for n in range(3)]
        for thread in stories:
            thread.start()
        deadline = time.monotonic() + 60
        while httpx.get(f"{base}/health").json()["busy"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(f"{base}/health").json()["busy"] == 3, "the three stories did not fill the generation slots"

        refused, _ = ask("Write a poem about the sea.", route="chat")
        assert refused.status_code == 429 and refused.headers["Retry-After"].isdigit()
        unanswerable, unanswerable_s = ask("Which treaty ended the war between the two kingdoms in 1648?", route="docs")
        streamed, streamed_s = ask("Who designed the ferry terminal's roof?", route="docs", stream=True)
        math, math_s = ask("What is 40366 / 439?")
        busy_after = httpx.get(f"{base}/health").json()["busy"]

        assert unanswerable.status_code == 200, unanswerable.text
        assert unanswerable.json()["orchestrator"]["abstained"] is True
        assert streamed.status_code == 200 and "data: [DONE]" in streamed.text and '"abstained": true' in streamed.text
        assert math.status_code == 200 and "91.94988" in math.json()["choices"][0]["message"]["content"]
        # Promptly: each in seconds, and while all three generations still hold their slots.
        assert max(unanswerable_s, streamed_s, math_s) < 10, (unanswerable_s, streamed_s, math_s)
        assert busy_after == 3 and not ended
        for thread in stories:
            thread.join(timeout=600)
        assert [status for status, _ in ended] == [200, 200, 200]
        assert all("data: [DONE]" in text for _, text in ended)
    finally:
        process.kill()
        process.wait()
