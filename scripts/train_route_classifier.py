"""Train the route classifier on the default embedder and write data/route_classifier.json.

    python scripts/train_route_classifier.py

The file carries the embedder's name, sha256 and dimension and the route set's digest; the app uses it
only for that embedder and that route set, and trains its own otherwise (chains/route_classifier.py).
Run it after scripts/make_route_set.py; tests/unit/test_route_classifier.py checks the digest matches.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OUT = Path(__file__).resolve().parent.parent / "data" / "route_classifier.json"


def main() -> int:
    from orchestrator import Settings, build_app
    from orchestrator.chains.route_classifier import EmbedderKey, classifier_texts, load_route_set, train
    from orchestrator.resources import route_examples_file

    app = build_app(Settings())
    identity = app.embeddings_id
    examples = load_route_set(route_examples_file())
    vectors = app.embeddings.embed_documents(classifier_texts(examples))
    classifier = train(examples, vectors, EmbedderKey(identity.name, identity.sha256, identity.dimension))
    OUT.write_text(json.dumps(classifier.as_json()) + "\n", encoding="utf-8")
    print(f"{len(examples)} examples, embedder {identity.name} ({identity.sha256[:12]}) -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
