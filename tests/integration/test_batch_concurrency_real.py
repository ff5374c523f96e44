"""`batch --concurrency N` against real servers that run requests in parallel: two llama_cpp.server behind a proxy."""

from __future__ import annotations

import json

import pytest

from orchestrator.batch import read_questions, run_batch
from orchestrator.config import Settings
from tests.helpers.parallel_servers import LeastBusyProxy, start_llama_server

pytestmark = pytest.mark.integration

ALIAS = "smollm2-parallel"
QUESTIONS = [
    f"Name one animal that lives in the {place}." for place in ("sea", "desert", "forest", "arctic", "jungle", "river")
]


@pytest.fixture(scope="module")
def proxy(default_model_path, tmp_path_factory):
    """Two single-threaded llama_cpp.server processes (each answers one request at a time) behind one URL."""
    logs = tmp_path_factory.mktemp("parallel_servers")
    with (
        start_llama_server(default_model_path, ALIAS, logs / "a.log") as first,
        start_llama_server(default_model_path, ALIAS, logs / "b.log") as second,
        LeastBusyProxy([first, second]) as proxy,
    ):
        yield proxy


def settings_for(proxy: LeastBusyProxy) -> Settings:
    return Settings(llm_backend="openai", openai_base_url=proxy.url, openai_model=ALIAS, max_tokens=12, temperature=0)


def answers(path) -> dict[str, str]:
    return {row["id"]: row["answer"] for row in map(json.loads, path.read_text().splitlines())}


def test_concurrency_keeps_requests_in_flight_with_the_answers_of_one_worker(proxy, model_env, tmp_path):
    source = tmp_path / "questions.txt"
    source.write_text("\n".join(QUESTIONS) + "\n")
    questions = read_questions(source)
    settings = settings_for(proxy)

    one_by_one = run_batch(questions, tmp_path / "workers1.jsonl", settings, route="chat")
    assert proxy.max_in_flight == 1  # one process, one question at a time
    proxy.max_in_flight = 0
    in_flight = run_batch(questions, tmp_path / "concurrency4.jsonl", settings, route="chat", concurrency=4)

    assert proxy.max_in_flight > 1 and min(proxy.served) > 0
    assert one_by_one.errors == in_flight.errors == 0 and in_flight.answered == len(QUESTIONS)
    assert answers(tmp_path / "concurrency4.jsonl") == answers(tmp_path / "workers1.jsonl")
    # The same resume format: a rerun finds every question answered.
    again = run_batch(questions, tmp_path / "concurrency4.jsonl", settings, route="chat", concurrency=4)
    assert again.skipped == len(QUESTIONS) and again.answered == 0
