"""The learned part of routing: a logistic regression over the app's own embeddings of a labelled route set.

The route set (data/route_examples.jsonl, written by scripts/make_route_set.py) holds requests of five
kinds: math, docs, web, chat and refuse. The classifier learns four classes from them: a question about
the user's documents and a question about a made-up thing read alike, and only the relevance score
against the user's own documents can tell them apart, so both are the class "factual" (the docs route
answers from the documents or refuses).

A trained classifier is stored with the identity of the embedder that made its vectors (name, sha256,
dimension) and the digest of the route set; one trained for another embedder or another route set is
never used: the app retrains (scikit-learn, seconds) and caches the result under its data dir.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from orchestrator.text import instruction_and_text

ROUTE_CLASSES = ("math", "docs", "web", "chat", "refuse")
# What the classifier learns for each route of the route set.
CLASS_OF_ROUTE = {"math": "math", "docs": "factual", "refuse": "factual", "web": "web", "chat": "chat"}
CLASSES = ("chat", "factual", "math", "web")
FORMAT = 1


@dataclass(frozen=True)
class RouteExample:
    """One labelled request of the route set."""

    text: str
    route: str
    family: str
    style: str

    @property
    def label(self) -> str:
        return CLASS_OF_ROUTE[self.route]


def load_route_set(path: Path) -> list[RouteExample]:
    """The route set, one JSON object per line: {"text", "route", "family", "style"}."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows.append(RouteExample(row["text"], row["route"], row["family"], row["style"]))
    return rows


def route_set_digest(examples: Sequence[RouteExample]) -> str:
    """sha256 of the texts as the classifier reads them and their labels, so a classifier is never used with a
    route set, or a way of reading it, that it was not trained on."""
    return hashlib.sha256(
        json.dumps([[text, e.label] for text, e in zip(classifier_texts(examples), examples)]).encode()
    ).hexdigest()


@dataclass(frozen=True)
class EmbedderKey:
    """The embedder a classifier's weights belong to."""

    name: str
    sha256: str
    dimension: int


class RouteClassifier:
    """Multinomial logistic regression on unit-length embeddings; probabilities per class."""

    def __init__(self, classes: Sequence[str], coef, intercept, embedder: EmbedderKey, examples_sha256: str):
        import numpy as np

        self.classes = tuple(classes)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.embedder = embedder
        self.examples_sha256 = examples_sha256

    def probabilities(self, vector: Sequence[float]) -> dict[str, float]:
        """{class: probability} for one embedding."""
        import numpy as np

        logits = self.coef @ unit(np.asarray(vector, dtype=np.float64)) + self.intercept
        exp = np.exp(logits - logits.max())
        return {str(label): float(p) for label, p in zip(self.classes, exp / exp.sum())}

    def as_json(self) -> dict:
        return {
            "format": FORMAT,
            "embedder": {
                "name": self.embedder.name,
                "sha256": self.embedder.sha256,
                "dimension": self.embedder.dimension,
            },
            "examples_sha256": self.examples_sha256,
            "classes": list(self.classes),
            "coef": [[round(float(x), 6) for x in row] for row in self.coef],
            "intercept": [round(float(x), 6) for x in self.intercept],
        }

    @classmethod
    def from_json(cls, data: dict) -> RouteClassifier:
        embedder = EmbedderKey(**data["embedder"])
        return cls(data["classes"], data["coef"], data["intercept"], embedder, data["examples_sha256"])

    def fits(self, embedder: EmbedderKey, examples_sha256: str) -> bool:
        """Was it trained on this embedder's vectors of this route set?"""
        return self.embedder == embedder and self.examples_sha256 == examples_sha256


def unit(vector):
    """A vector (or each row of a matrix) scaled to length 1; zeros stay zero."""
    import numpy as np

    norms = np.linalg.norm(vector, axis=-1, keepdims=True)
    return vector / np.where(norms == 0, 1.0, norms)


def fit(vectors, labels: Sequence[str], c: float | None = None):
    """A scikit-learn LogisticRegression on unit-length vectors (classes weighted by their frequency)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from orchestrator.tuning import TUNING

    model = LogisticRegression(C=TUNING.classifier_c if c is None else c, max_iter=2000, class_weight="balanced")
    # One BLAS thread: on a busy machine a threaded solver waits on its own threads (measured: 14 s vs 0.4 s).
    with threadpool_limits(1):
        model.fit(unit(np.asarray(vectors, dtype=np.float64)), list(labels))
    return model


def train(examples: Sequence[RouteExample], vectors, embedder: EmbedderKey, c: float | None = None) -> RouteClassifier:
    """Fit on the whole route set; the result carries the embedder's identity and the route set's digest."""
    model = fit(vectors, [e.label for e in examples], c)
    return RouteClassifier(model.classes_, model.coef_, model.intercept_, embedder, route_set_digest(examples))


def routing_text(question: str) -> str:
    """What the classifier reads, in training and in use: the instruction alone when the request gives a text to work on.

    "Shorten this: We would like to inform you that the office will remain closed on Monday." is a task on
    the user's text; read whole, the notice outweighs the instruction and the request reads as a question.
    """
    task = instruction_and_text(question)
    return task[0] if task else question


def classifier_texts(examples: Sequence[RouteExample]) -> list[str]:
    """The texts the classifier is trained on: each example as `routing_text` reads it."""
    return [routing_text(e.text) for e in examples]


def load_or_train(
    examples: Sequence[RouteExample],
    embed: Callable[[list[str]], list[list[float]]],
    embedder: EmbedderKey,
    shipped: Path | None,
    cache_dir: Path | None,
) -> RouteClassifier:
    """The shipped classifier when it was trained for this embedder and route set, else a cached or new one."""
    digest = route_set_digest(examples)
    key = hashlib.sha256(json.dumps([embedder.name, embedder.sha256, embedder.dimension, digest]).encode())
    cache_file = cache_dir / f"route-classifier-{key.hexdigest()[:16]}.json" if cache_dir else None
    for candidate in (shipped, cache_file):
        classifier = _read(candidate)
        if classifier is not None and classifier.fits(embedder, digest):
            return classifier
    import numpy as np

    vectors = np.asarray(embed(classifier_texts(examples)), dtype=np.float64)
    # Through its stored form, so the first run and every run after it from the cache decide alike.
    classifier = RouteClassifier.from_json(train(examples, vectors, embedder).as_json())
    if cache_file is not None:
        from orchestrator.files import atomic_output

        try:
            with atomic_output(cache_file) as partial:
                partial.write_text(json.dumps(classifier.as_json()), encoding="utf-8")
        except OSError:
            pass  # a read-only or full data dir only costs training again next time (and leaves no partial file)
    return classifier


def _read(path: Path | None) -> RouteClassifier | None:
    """A stored classifier, or None when the file is missing, damaged or of another format."""
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RouteClassifier.from_json(data) if data.get("format") == FORMAT else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
