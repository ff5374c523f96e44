"""`orchestrator eval`: answer a labelled question file with the batch machinery and score every kind.

Question format (one JSON object per line): id, kind (docs | math | math_word | unanswerable |
false_premise | web | chat), question, answers (gold strings), source (docs: the file the answer is
in). Scores:

* math and math_word (a word problem): the answer equals one of `answers` by SymPy equivalence
  (orchestrator.math_equivalence.equivalent);
* false_premise (the question assumes something false): safe when the answer declines or says the
  premise is wrong, unsafe when it answers as if the premise held;
* docs: a gold answer is contained in the answer after SQuAD normalisation AND the gold file is cited;
* unanswerable: abstained, on the docs or chat route;
* web: routed to web and not answered from the model's memory (abstained, search failed, or cited results);
* chat: routed to chat;
* route accuracy over all kinds (unanswerable may go to docs or chat).

With a corpus, the knowledge base is a scratch one inside the output folder (OUTPUT/kb, collection
"eval"). It is kept: a rerun syncs it with the corpus (unchanged files cost nothing, removed files are
pruned) and resumes OUTPUT/answers.jsonl. OUTPUT/run.json records what the answers were produced with,
so answers from another model, corpus or question file are never mixed into one report.
"""

from __future__ import annotations

import json
import re
import string
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from orchestrator.batch import Question, read_questions, read_result_rows, run_batch
from orchestrator.errors import ConfigError
from orchestrator.files import sha256_of

if TYPE_CHECKING:
    from orchestrator.config import Settings

KINDS = ("docs", "math", "math_word", "unanswerable", "false_premise", "web", "chat")
EXPECTED_ROUTES = {
    "docs": {"docs"},
    "math": {"math"},
    "math_word": {"math"},
    "web": {"web"},
    "chat": {"chat"},
    "unanswerable": {"docs", "chat"},
    "false_premise": {"docs", "web", "chat"},
}
# A reply that rejects the question's premise ("There is no ...", "X never ...").
_PREMISE_DENIED = re.compile(
    r"\b(?:no|never|not|none|false premise|there (?:is|was|are|were) no|isn't|wasn't|aren't|weren't|"
    r"didn't|doesn't|hasn't|haven't|hadn't)\b",
    re.IGNORECASE,
)
MAX_DOCS_ANSWER_CHARS = 400
SCRATCH_COLLECTION = "eval"
FAILURES_PER_KIND = 3


class EvalInputError(ConfigError):
    """The question file does not follow the eval format."""


@dataclass
class Score:
    """How one answer did: `correct` is the kind's headline check; `checks` are the parts reported."""

    id: str
    kind: str
    correct: bool
    route_ok: bool
    checks: dict[str, bool] = field(default_factory=dict)
    reason: str = ""  # why it failed, for the report


# --- normalisation (SQuAD v1.1 evaluate script: lower, drop punctuation, articles, extra spaces) ----

_CITATION = re.compile(r"\[\d+\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's normalize_answer (Rajpurkar et al. 2016, evaluate-v1.1.py)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_body(answer: str) -> str:
    """The answer without a trailing source list or [n] citation markers."""
    body = re.split(r"\n\s*Sources?:", answer, maxsplit=1)[0]
    return _CITATION.sub("", body).strip()


def contains_gold(answer: str, golds: Sequence[str]) -> bool:
    """A normalised gold answer occurs in the normalised answer as whole words ("4" is not in "41")."""
    padded = f" {normalize_answer(answer_body(answer))} "
    return any(normalize_answer(g) and f" {normalize_answer(g)} " in padded for g in golds)


def cites_source(row: dict, source: str) -> bool:
    """Some sources[].source has the gold file name (sources are stored with their full path)."""
    return any(Path(str(s.get("source") or "")).name == source for s in row.get("sources") or [])


# --- scoring per kind -----------------------------------------------------------------------------


def score_math(row: dict, question: dict) -> Score:
    from orchestrator.math_equivalence import equivalent

    value_ok = (
        not row.get("error") and not row.get("abstained") and equivalent(row.get("answer") or "", question["answers"])
    )
    return _score(
        row, question, value_ok, {"value_equal": value_ok}, "" if value_ok else "value differs from the gold answer"
    )


def score_docs(row: dict, question: dict) -> Score:
    answered = not row.get("error") and not row.get("abstained")
    contained = answered and contains_gold(row.get("answer") or "", question["answers"])
    cited = cites_source(row, question.get("source") or "")
    short = len(answer_body(row.get("answer") or "")) <= MAX_DOCS_ANSWER_CHARS
    # "quoted": the answer is the best evidence sentence, quoted, because the model's own answer failed
    # the grounding check (chains/docs.py); reported so a reader sees how much the quotes contribute.
    quoted = answered and (row.get("route_reason") or {}).get("answer_kind") == "quote"
    checks = {
        "answer_contained": contained,
        "source_cited": cited,
        "refused": bool(row.get("abstained")),
        "short_enough": short,
        "quoted": quoted,
    }
    if row.get("abstained"):
        reason = "refused"
    elif not contained:
        reason = "gold answer not in the answer" + ("" if cited else " and gold source not cited")
    else:
        reason = "" if cited else "gold source not cited"
    return _score(row, question, contained and cited, checks, reason)


def score_false_premise(row: dict, question: dict) -> Score:
    declined = bool(row.get("abstained")) and not row.get("error")
    denied = bool(_PREMISE_DENIED.search(row.get("answer") or ""))
    ok = declined or denied
    return _score(
        row,
        question,
        ok,
        {"declined": declined, "premise_denied": denied},
        "" if ok else "answered as if the premise held",
    )


def score_unanswerable(row: dict, question: dict) -> Score:
    abstained = bool(row.get("abstained")) and not row.get("error")
    ok = abstained and row.get("route") in EXPECTED_ROUTES["unanswerable"]
    return _score(
        row,
        question,
        ok,
        {"abstained": abstained},
        "" if ok else "answered instead of abstaining" if not abstained else "abstained on the wrong route",
    )


def search_failed(row: dict) -> bool:
    """The web search itself failed (reported as an error, or as a failed web_search tool call)."""
    if "search" in (row.get("error") or "").lower():
        return True
    return any(call.get("tool") == "web_search" and call.get("error") for call in row.get("tool_calls") or [])


def score_web(row: dict, question: dict) -> Score:
    # Not from memory: it abstained, the search failed visibly, or the answer cites search results.
    grounded = bool(row.get("abstained")) or search_failed(row) or bool(row.get("sources"))
    routed = row.get("route") == "web"
    ok = routed and grounded
    reason = "" if ok else "not routed to web" if not routed else "answered without search results (from memory)"
    return _score(row, question, ok, {"not_from_memory": grounded}, reason)


def score_chat(row: dict, question: dict) -> Score:
    ok = row.get("route") == "chat" and not row.get("error")
    return _score(row, question, ok, {}, "" if ok else "not routed to chat" if row.get("route") != "chat" else "error")


def _score(row: dict, question: dict, correct: bool, checks: dict, reason: str) -> Score:
    route_ok = row.get("route") in EXPECTED_ROUTES[question["kind"]]
    if row.get("error"):
        reason = f"error: {row['error']}"
    return Score(str(question["id"]), question["kind"], bool(correct), route_ok, checks, "" if correct else reason)


SCORERS: dict[str, Callable[[dict, dict], Score]] = {
    "docs": score_docs,
    "math": score_math,
    "math_word": score_math,
    "unanswerable": score_unanswerable,
    "false_premise": score_false_premise,
    "web": score_web,
    "chat": score_chat,
}


def score_row(row: dict | None, question: dict) -> Score:
    """Score one result row against its question; a missing row scores as an error."""
    if row is None:
        row = {"route": None, "error": "no answer row", "answer": "", "sources": []}
    return SCORERS[question["kind"]](row, question)


# --- the question file ----------------------------------------------------------------------------


def read_eval_questions(path: str | Path) -> list[Question]:
    """The eval questions; every line needs a known `kind` and a list of `answers`."""
    questions = read_questions(path)
    for q in questions:
        if q.error:
            raise EvalInputError(f"{path}: question {q.id}: {q.error}.")
        kind = q.fields.get("kind")
        if kind not in KINDS:
            raise EvalInputError(f"{path}: question {q.id} has kind {kind!r}; use one of {', '.join(KINDS)}.")
        if not isinstance(q.fields.get("answers", []), list):
            raise EvalInputError(f"{path}: question {q.id}: `answers` must be a list of strings.")
        if kind == "docs" and not q.fields.get("source"):
            raise EvalInputError(f"{path}: docs question {q.id} needs the `source` file name of its answer.")
    return questions


def as_gold(question: Question) -> dict:
    return {
        "id": question.id,
        "question": question.text,
        "kind": question.fields["kind"],
        "answers": list(question.fields.get("answers") or []),
        "source": question.fields.get("source"),
    }


# --- aggregation and reports ----------------------------------------------------------------------


def _rate(values: Sequence[bool]) -> float:
    return round(sum(values) / len(values), 4) if values else 0.0


def summarize(scores: Sequence[Score], rows: dict[str, dict]) -> dict:
    """Per-kind and overall numbers for report.json (rates are 0..1)."""
    kinds: dict[str, dict] = {}
    for kind in KINDS:
        mine = [s for s in scores if s.kind == kind]
        if not mine:
            continue
        mine_rows = [rows.get(s.id) or {} for s in mine]
        entry = {
            "n": len(mine),
            "correct": sum(s.correct for s in mine),
            "score": _rate([s.correct for s in mine]),
            "route_accuracy": _rate([s.route_ok for s in mine]),
            "abstained": _rate([bool(r.get("abstained")) for r in mine_rows]),
            "errors": sum(bool(r.get("error")) or not r for r in mine_rows),
            "mean_latency_s": round(sum(float(r.get("latency_s") or 0) for r in mine_rows) / len(mine), 3),
        }
        for check in mine[0].checks:
            entry[check] = _rate([s.checks.get(check, False) for s in mine])
        kinds[kind] = entry
    return {
        "kinds": kinds,
        "overall": {
            "n": len(scores),
            "correct": sum(s.correct for s in scores),
            "score": _rate([s.correct for s in scores]),
            "route_accuracy": _rate([s.route_ok for s in scores]),
            "errors": sum(k["errors"] for k in kinds.values()),
        },
    }


_SEVERITY = {"error": 0, "route": 1, "wrong": 2, "refused": 3}


def _severity(score: Score, row: dict) -> int:
    # Worst first: crashes, then a wrong route, then a confident wrong answer, then a refusal.
    if row.get("error"):
        return _SEVERITY["error"]
    if not score.route_ok:
        return _SEVERITY["route"]
    return _SEVERITY["refused"] if row.get("abstained") else _SEVERITY["wrong"]


def worst_failures(
    scores: Sequence[Score], rows: dict[str, dict], golds: dict[str, dict], per_kind: int = FAILURES_PER_KIND
) -> list[dict]:
    """Up to `per_kind` failures of each kind, worst first, with what was answered."""
    chosen = []
    for kind in KINDS:
        failed = [s for s in scores if s.kind == kind and not s.correct]
        failed.sort(key=lambda s: (_severity(s, rows.get(s.id) or {}), s.id))
        for s in failed[:per_kind]:
            row = rows.get(s.id) or {}
            chosen.append(
                {
                    "id": s.id,
                    "kind": kind,
                    "question": golds[s.id]["question"],
                    "gold": golds[s.id]["answers"],
                    "gold_source": golds[s.id].get("source"),
                    "route": row.get("route"),
                    "answer": row.get("answer", ""),
                    "sources": [Path(str(x.get("source") or "")).name for x in row.get("sources") or []],
                    "reason": s.reason,
                }
            )
    return chosen


TABLE_COLUMNS = ["Kind", "N", "Score", "Route ok", "Abstained", "Errors", "Latency s"]
DOCS_COLUMNS = ["Answer contained", "Source cited", "Both (score)", "Refused", "Answer <= 400 chars", "Quoted"]


def table_rows(summary: dict) -> list[list[str]]:
    """The main table: one row per kind and the overall row."""
    rows = []
    for kind, k in summary["kinds"].items():
        rows.append(
            [
                kind,
                str(k["n"]),
                f"{k['correct']}/{k['n']} ({k['score']:.0%})",
                f"{k['route_accuracy']:.0%}",
                f"{k['abstained']:.0%}",
                str(k["errors"]),
                f"{k['mean_latency_s']:.2f}",
            ]
        )
    o = summary["overall"]
    rows.append(
        [
            "overall",
            str(o["n"]),
            f"{o['correct']}/{o['n']} ({o['score']:.0%})",
            f"{o['route_accuracy']:.0%}",
            "",
            str(o["errors"]),
            "",
        ]
    )
    return rows


def docs_row(summary: dict) -> list[str] | None:
    d = summary["kinds"].get("docs")
    if not d:
        return None
    return [
        f"{d['answer_contained']:.0%}",
        f"{d['source_cited']:.0%}",
        f"{d['score']:.0%}",
        f"{d['refused']:.0%}",
        f"{d['short_enough']:.0%}",
        f"{d.get('quoted', 0):.0%}",
    ]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    """report.md: the tables, how the run was made, and the worst failures with their answers."""
    run = report["run"]
    parts = [
        "# Evaluation report",
        "",
        f"Questions: `{run['questions']}` ({report['summary']['overall']['n']}); model: `{run['model']}`; "
        f"corpus: `{run.get('corpus') or 'none (configured collection)'}`; workers: {run['workers']}; "
        f"wall time: {run['wall_seconds']:.0f} s (ingest {run.get('ingest_seconds', 0):.0f} s, answering "
        f"{run.get('batch', {}).get('seconds', 0):.0f} s).",
        "",
        _md_table(TABLE_COLUMNS, table_rows(report["summary"])),
        "",
        "Score per kind: math = SymPy-equivalent to a gold answer; docs = gold answer contained (SQuAD "
        "normalisation) and gold file cited; unanswerable = abstained on docs/chat; web = routed to web and "
        "not answered from memory; chat = routed to chat.",
        "",
    ]
    docs = docs_row(report["summary"])
    if docs:
        parts += ["## Docs", "", _md_table(DOCS_COLUMNS, [docs]), ""]
    confusion = report.get("route_confusion") or {}
    if confusion:
        routes = sorted({route for counts in confusion.values() for route in counts})
        parts += [
            "## Where each kind was routed",
            "",
            _md_table(
                ["Kind", *routes],
                [[kind, *(str(counts.get(r, 0)) for r in routes)] for kind, counts in confusion.items()],
            ),
            "",
        ]
    parts += ["## Worst failures", ""] + ([] if report["failures"] else ["None."])
    for f in report["failures"]:
        answer = " ".join(str(f["answer"]).split())
        parts += [
            f"- **{f['id']}** ({f['kind']}, routed to {f['route']}): {f['question']}",
            f"  - why: {f['reason']}",
            f"  - gold: {', '.join(map(str, f['gold'])) or '(none)'}"
            + (f" in {f['gold_source']}" if f["gold_source"] else ""),
            f"  - answer: {answer[:400]}" + (f" (cited: {', '.join(f['sources'])})" if f["sources"] else ""),
        ]
    return "\n".join(parts) + "\n"


def write_report(output_dir: Path, report: dict) -> tuple[Path, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    md, js = output_dir / "report.md", output_dir / "report.json"
    md.write_text(render_markdown(report), encoding="utf-8")
    js.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return md, js


# --- running --------------------------------------------------------------------------------------


def scratch_settings(settings: Settings, output_dir: Path) -> Settings:
    """Settings whose knowledge base (and caches) live in OUTPUT/kb; models stay where they are."""
    return settings.model_copy(
        update={
            "data_dir": output_dir / "kb",
            "models_dir": settings.resolved_models_dir,
            "collection": SCRATCH_COLLECTION,
        }
    )


def ingest_corpus(settings: Settings, corpus: Path, progress=None) -> str:
    """Sync the scratch collection with the corpus folder; returns the collection's content fingerprint."""
    from orchestrator.app import open_knowledge_store
    from orchestrator.knowledge.ingest import ingest_paths

    if not corpus.is_dir():
        raise ConfigError(f"--corpus {corpus} is not a folder: give the folder of documents to ingest.")
    store = open_knowledge_store(settings, collection=settings.collection, progress=progress)
    summary = ingest_paths([corpus], store, settings, progress=progress, prune=True)
    if summary.files_ingested == 0:
        raise ConfigError(f"No readable documents in {corpus} (.txt .md .html .pdf .json .jsonl).")
    return store.fingerprint()


def run_identity(settings: Settings, questions_path: Path, corpus_fingerprint: str | None) -> dict:
    """What the answers depend on; a resume with anything different would mix two runs in one report."""
    keys = (
        "model",
        "embedding_model",
        "temperature",
        "max_tokens",
        "seed",
        "n_ctx",
        "top_k",
        "relevance_threshold",
        "chunk_size",
        "chunk_overlap",
        "allow_unverified",
    )
    identity = {key: getattr(settings, key) for key in keys}
    identity["collection"] = None if corpus_fingerprint else settings.collection
    identity["questions_sha256"] = sha256_of(questions_path)
    identity["corpus_fingerprint"] = corpus_fingerprint
    return identity


def check_resumable(output_dir: Path, identity: dict) -> None:
    """Refuse to resume answers produced by a different run; start run.json for a new one."""
    answers, run_file = output_dir / "answers.jsonl", output_dir / "run.json"
    if answers.exists() and run_file.exists():
        previous = json.loads(run_file.read_text(encoding="utf-8"))
        changed = sorted(k for k in identity if previous.get(k) != identity[k])
        if changed:
            raise ConfigError(
                f"{answers} was produced with different {', '.join(changed)}; use a new --output folder "
                f"or delete {answers} to start over."
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    run_file.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")


@dataclass
class EvalRun:
    """The finished evaluation: the report dict (what report.json holds) and where it was written."""

    report: dict
    markdown: Path
    json: Path


def run_eval(
    questions_path: str | Path,
    output_dir: str | Path,
    settings: Settings,
    corpus: str | Path | None = None,
    workers: int = 1,
    progress=None,
    on_start=None,
    on_row=None,
    kb_parent: str | Path | None = None,
) -> EvalRun:
    """Ingest the corpus (if any), answer every question (resuming OUTPUT/answers.jsonl), score, report.

    The scratch knowledge base goes in OUTPUT/kb, or in KB_PARENT/kb when several runs share it
    (`bench --eval`: the embeddings do not depend on the chat model).
    """
    started = time.perf_counter()
    questions_path, output_dir = Path(questions_path), Path(output_dir)
    questions = read_eval_questions(questions_path)
    fingerprint = None
    if corpus is not None:
        settings = scratch_settings(settings, Path(kb_parent) if kb_parent is not None else output_dir)
        fingerprint = ingest_corpus(settings, Path(corpus), progress)
    ingest_seconds = time.perf_counter() - started
    check_resumable(output_dir, run_identity(settings, questions_path, fingerprint))
    answers_path = output_dir / "answers.jsonl"
    batch = run_batch(questions, answers_path, settings, workers=workers, on_start=on_start, on_row=on_row)
    rows = read_result_rows(answers_path)
    golds = {q.id: as_gold(q) for q in questions}
    scores = [score_row(rows.get(q.id), golds[q.id]) for q in questions]
    report = {
        "run": {
            "questions": str(questions_path),
            "corpus": str(corpus) if corpus else None,
            "model": settings.model,
            "workers": workers,
            "wall_seconds": round(time.perf_counter() - started, 1),
            "ingest_seconds": round(ingest_seconds, 1),
            "batch": batch.as_dict(),
        },
        "summary": summarize(scores, rows),
        "route_confusion": route_confusion(scores, rows),
        "failures": worst_failures(scores, rows, golds),
        "scores": [asdict(s) for s in scores],
    }
    markdown, json_path = write_report(output_dir, report)
    return EvalRun(report, markdown, json_path)


def route_confusion(scores: Sequence[Score], rows: dict[str, dict]) -> dict[str, dict[str, int]]:
    """kind -> route -> count, to see where misrouted questions went."""
    confusion: dict[str, Counter] = {}
    for s in scores:
        confusion.setdefault(s.kind, Counter())[str((rows.get(s.id) or {}).get("route"))] += 1
    return {kind: dict(counter) for kind, counter in confusion.items()}
