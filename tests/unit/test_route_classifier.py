"""The route classifier: stored with its embedder's identity, retrained for another embedder, and what it reads."""

import json
from pathlib import Path

import pytest

from orchestrator.chains.route_classifier import (
    CLASSES,
    EmbedderKey,
    RouteClassifier,
    load_or_train,
    load_route_set,
    route_set_digest,
)
from orchestrator.resources import route_classifier_file, route_examples_file
from tests.helpers.word_hash import WordHashEmbeddings

REPO = Path(__file__).resolve().parents[2]


class CountingEmbeddings(WordHashEmbeddings):
    def __init__(self) -> None:
        super().__init__(dim=64)
        self.texts = 0

    def embed_documents(self, texts):
        self.texts += len(texts)
        return super().embed_documents(texts)


@pytest.fixture(scope="module")
def examples():
    return load_route_set(route_examples_file())


def test_the_shipped_classifier_was_trained_on_the_shipped_route_set(examples):
    shipped = json.loads(route_classifier_file().read_text())
    assert shipped["examples_sha256"] == route_set_digest(examples), (
        "data/route_examples.jsonl changed: run python scripts/train_route_classifier.py"
    )
    assert shipped["embedder"]["name"] and len(shipped["embedder"]["sha256"]) == 64
    assert sorted(shipped["classes"]) == sorted(CLASSES)
    assert len(shipped["coef"][0]) == shipped["embedder"]["dimension"]


def test_another_embedder_trains_its_own_classifier_once_and_caches_it(examples, tmp_path):
    embeddings = CountingEmbeddings()
    key = EmbedderKey("WordHashEmbeddings", "f" * 64, 64)
    first = load_or_train(examples, embeddings.embed_documents, key, route_classifier_file(), tmp_path)
    assert embeddings.texts == len(examples)  # the shipped weights belong to another embedder
    assert first.embedder == key and first.coef.shape == (len(CLASSES), 64)
    again = load_or_train(examples, embeddings.embed_documents, key, route_classifier_file(), tmp_path)
    assert embeddings.texts == len(examples)  # read from the cache, not trained again
    assert (again.coef == first.coef).all()
    hello = again.probabilities(embeddings.embed_query("hi there, thanks a lot"))
    assert max(hello, key=hello.get) == "chat" and abs(sum(hello.values()) - 1) < 1e-9


def test_a_classifier_for_another_route_set_or_a_damaged_file_is_not_used(examples, tmp_path):
    embeddings = CountingEmbeddings()
    key = EmbedderKey("WordHashEmbeddings", "e" * 64, 64)
    stale = RouteClassifier(CLASSES, [[0.0] * 64] * 4, [0.0] * 4, key, "not-this-route-set")
    stale_file = tmp_path / "stale.json"
    stale_file.write_text(json.dumps(stale.as_json()))
    damaged = tmp_path / "damaged.json"
    damaged.write_text("{not json")
    for shipped in (stale_file, damaged):
        classifier = load_or_train(examples, embeddings.embed_documents, key, shipped, None)
        assert classifier.examples_sha256 == route_set_digest(examples)
    assert embeddings.texts == 2 * len(examples)


def test_a_stored_classifier_round_trips(examples):
    shipped = RouteClassifier.from_json(json.loads(route_classifier_file().read_text()))
    again = RouteClassifier.from_json(shipped.as_json())
    vector = [0.1] * shipped.embedder.dimension
    assert again.probabilities(vector) == pytest.approx(shipped.probabilities(vector))
