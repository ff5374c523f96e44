"""Route accuracy on phrasings the classifier never saw: cross-validation with whole template families held out.

    python benchmarks/route_cv.py [--folds 5] [--c 4.0] [--json OUT.json]

The route set (data/route_examples.jsonl) is split with scikit-learn's GroupKFold, one group per
template family, so every test fold holds only phrasings absent from its training folds. Two figures:
the classifier's class (chat, factual, math, web) and the app's whole routing decision without
documents (math detection, time words and the future rule, then the classifier; docs and refuse both
count as the docs route, since only retrieval tells them apart). The default embedder is used.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EXPECTED_ROUTE = {"math": "math", "docs": "docs", "refuse": "docs", "web": "web", "chat": "chat"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--c", type=float, default=None, help="regularisation (default: Tuning.classifier_c)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--save-vectors", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    import numpy as np
    from sklearn.model_selection import GroupKFold

    from orchestrator import Settings, build_app
    from orchestrator.chains.route_classifier import EmbedderKey, RouteClassifier, classifier_texts, fit, load_route_set
    from orchestrator.chains.router import Signals, decide
    from orchestrator.resources import route_examples_file
    from orchestrator.tools.math import detect_math

    settings = Settings()
    app = build_app(settings)
    examples = load_route_set(route_examples_file())
    vectors = np.asarray(app.embeddings.embed_documents(classifier_texts(examples)))
    if args.save_vectors:
        np.save(args.save_vectors, vectors)
    labels = np.array([e.label for e in examples])
    groups = [e.family for e in examples]
    class_right, route_right = np.zeros(len(examples), bool), np.zeros(len(examples), bool)
    for train_idx, test_idx in GroupKFold(n_splits=args.folds).split(vectors, labels, groups):
        model = fit(vectors[train_idx], labels[train_idx], args.c)
        classifier = RouteClassifier(model.classes_, model.coef_, model.intercept_, EmbedderKey("", "", 0), "")
        for i in test_idx:
            example = examples[i]
            probabilities = classifier.probabilities(vectors[i])
            class_right[i] = max(probabilities, key=probabilities.__getitem__) == example.label
            problem = detect_math(example.text)
            signals = Signals.for_question(example.text, None, probabilities)
            signals.math_reason = (problem.reason or problem.kind) if problem is not None else None
            route_right[i] = decide(signals, settings.relevance_threshold).route == EXPECTED_ROUTE[example.route]
    report = {
        "examples": len(examples),
        "families": len(set(groups)),
        "folds": args.folds,
        "class_accuracy": round(float(class_right.mean()), 4),
        "route_accuracy": round(float(route_right.mean()), 4),
        "route_accuracy_by_route": _by(examples, route_right, lambda e: e.route),
        "route_accuracy_by_style": _by(examples, route_right, lambda e: e.style),
        "misrouted_families": collections.Counter(
            e.family for e, ok in zip(examples, route_right) if not ok
        ).most_common(12),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "misrouted_families"}, ensure_ascii=False))
    print("most misrouted families:", ", ".join(f"{name} {n}" for name, n in report["misrouted_families"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def _by(examples, right, key) -> dict[str, float]:
    totals: dict[str, list[bool]] = collections.defaultdict(list)
    for example, ok in zip(examples, right):
        totals[key(example)].append(bool(ok))
    return {name: round(sum(v) / len(v), 4) for name, v in sorted(totals.items())}


if __name__ == "__main__":
    sys.exit(main())
