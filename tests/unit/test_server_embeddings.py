"""embeddings_backend=openai against an HTTP stand-in on 127.0.0.1: what is sent, what comes back, and the refusals."""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orchestrator.config import Settings

UNKNOWN_MODEL = "no-such-embedder"


class EmbeddingStandIn:
    """A /v1/embeddings server whose vectors are [len(text), 1, 1, ...] of `dimension` (unnormalised on purpose)."""

    def __init__(self, dimension: int = 4, model: str = "standin-embedder") -> None:
        self.dimension = dimension
        self.model = model
        self.requests: list[dict] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                standin.requests.append(body)
                if body["model"] == UNKNOWN_MODEL:
                    error = json.dumps({"error": {"message": f"model {UNKNOWN_MODEL} not found"}}).encode()
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(error)))
                    self.end_headers()
                    self.wfile.write(error)
                    return
                data = [
                    {
                        "object": "embedding",
                        "index": i,
                        "embedding": [float(len(text))] + [1.0] * (standin.dimension - 1),
                    }
                    for i, text in enumerate(body["input"])
                ]
                payload = json.dumps(
                    {
                        "object": "list",
                        "model": standin.model,
                        "data": data,
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler


@pytest.fixture
def standin():
    server = EmbeddingStandIn()
    yield server
    server.close()


def server_settings(url: str) -> Settings:
    return Settings(embeddings_backend="openai", embeddings_base_url=url, embeddings_server_model="asked-name")


def test_plain_strings_are_sent_and_unit_vectors_come_back(standin):
    from orchestrator.llm import embeddings_model

    embeddings = embeddings_model(server_settings(standin.url))
    vectors = embeddings.embed_documents(["abc", "a longer text"])
    # Texts go out as they are (no tiktoken token ids, which would need a download), with the configured name.
    assert standin.requests[-1]["input"] == ["abc", "a longer text"]
    assert standin.requests[-1]["model"] == "asked-name"
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0) for v in vectors)
    assert vectors[0][0] == pytest.approx(3 / math.sqrt(9 + 3))  # [3, 1, 1, 1] scaled to length 1
    assert embeddings.embed_query("abc") == vectors[0]


def test_the_collection_identity_is_the_name_the_server_reports_and_its_size(standin):
    from orchestrator.app import embeddings_identity
    from orchestrator.llm import embeddings_model

    settings = server_settings(standin.url)
    identity = embeddings_identity(settings, embeddings_model(settings), injected=False)
    assert identity.name == "server:standin-embedder" and identity.dimension == 4
    standin.model, standin.dimension = "another-embedder", 4
    other = embeddings_identity(settings, embeddings_model(settings), injected=False)
    assert not other.same_model(identity)


def test_vectors_of_another_size_midway_are_refused(standin):
    from orchestrator.llm import EmbeddingServerError, embeddings_model

    embeddings = embeddings_model(server_settings(standin.url))
    embeddings.embed_documents(["first"])
    standin.dimension = 6  # the server now runs another model
    with pytest.raises(EmbeddingServerError, match="size 6 after vectors of size 4"):
        embeddings.embed_documents(["second"])


def test_a_collection_of_another_model_is_refused_naming_both(standin):
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from orchestrator.app import open_knowledge_store
    from orchestrator.knowledge.store import EmbeddingModelId, KnowledgeStoreError, open_store

    settings = server_settings(standin.url)
    local = open_store(settings, DeterministicFakeEmbedding(size=16), EmbeddingModelId("local-minilm", "a" * 64, 1, 16))
    local.vectorstore.add_texts(["a chunk from the local embedder"])
    with pytest.raises(KnowledgeStoreError) as refused:
        open_knowledge_store(settings)
    message = str(refused.value)
    assert "local-minilm (dim 16" in message and "server:standin-embedder (dim 4" in message
    assert "--reset" in message


def test_an_unreachable_server_is_named_with_the_setting_to_change():
    from orchestrator.llm import EmbeddingServerError, embeddings_model
    from tests.helpers.parallel_servers import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    settings = Settings(embeddings_backend="openai", embeddings_base_url=url)
    embeddings = embeddings_model(settings)
    with pytest.raises(EmbeddingServerError, match="could not be reached.*ORCH_EMBEDDINGS_BASE_URL") as refused:
        embeddings.embed_documents(["anything"])
    assert url in str(refused.value)


def test_a_model_the_server_does_not_serve_names_the_setting(standin):
    from orchestrator.llm import EmbeddingServerError, embeddings_model

    settings = Settings(
        embeddings_backend="openai", embeddings_base_url=standin.url, embeddings_server_model=UNKNOWN_MODEL
    )
    with pytest.raises(EmbeddingServerError, match="answered 404.*ORCH_EMBEDDINGS_SERVER_MODEL"):
        embeddings_model(settings).embed_query("anything")
