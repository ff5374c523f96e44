"""Scale benchmark: ingest, cold and warm docs answers, a one-file change and retrieval at 1k, 10k, 100k chunks.

For each size a collection is built from real text, read at run time and never copied into the repository:
the dev and val corpora (--eval-dir), then installed packages' documentation (*.md, *.rst, *.txt and the
package descriptions in *.dist-info/METADATA), then, when that runs out, the docstrings of installed modules.
Files are taken in one fixed order until the chunk estimate reaches the size, so each size is a superset of
the smaller ones. Files whose text is identical to an earlier one (whitespace and case aside) are dropped
before ingest and counted; identical chunk texts among the rest are reported as a share. A few short
documents of our own with made-up facts (`fact_documents`) are added to every size: the questions ask about
them, so whether an answer is right, and whether it changed after an edit, can be checked.

Everything runs through the public entry points, in subprocesses whose ORCH_DATA_DIR is a fresh folder:
  * `orchestrator ingest DOCS`: wall clock, peak RSS of that process (wait4), data folder bytes after it;
  * `orchestrator ask --json QUESTION`, a new process each time: wall clock to exit, median of --cold-runs;
  * one worker process (this file with --worker) using `build_app` and `make_retriever`: warm docs answers
    (p50, p95) and the retriever's time per question with mode bm25, vector and hybrid (p50);
  * one fact file edited, `orchestrator ingest DOCS` again, then `ask`: the time until the new value is answered.
Each size is ingested fresh, so its ingest rate is real (--keep DIR keeps the built sizes, and reuses a size's
ingest made by the same commit instead of repeating it). The growth of each figure over the sizes is fitted by
least squares against N and against log N, and both fits are projected to 1M chunks (--project).

    python benchmarks/scale.py --sizes 1000,10000 --json scale.json
    python benchmarks/scale.py --sizes 10000 --chroma-server   # the same against `chroma run` on 127.0.0.1
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The shared eval folder beside the checkout (../shared/eval), or beside the worktrees' folder (../../shared/eval).
DEFAULT_EVAL_DIR = next(
    (p / "shared" / "eval" for p in PROJECT_ROOT.parents[:2] if (p / "shared" / "eval").is_dir()),
    PROJECT_ROOT.parent / "shared" / "eval",
)
DEFAULT_SIZES = "1000,10000,100000"
PROJECTED_SIZE = 1_000_000
# Files in package folders that are not documentation: licences (hundreds of near copies), packaging records.
NOT_DOCUMENTATION = re.compile(
    r"^(licen[cs]e|copying|notice|authors|contributors|record|top_level|entry_points|requires|sources|"
    r"dependency_links|installer|requested|wheel|namespace_packages|not-zip-safe)([._-].*)?$",
    re.IGNORECASE,
)
DOC_SUFFIXES = (".md", ".rst", ".txt")
MAX_FILE_BYTES = 1_000_000
# The settings the orchestrator reads that would change what is measured, dropped from the caller's environment.
CALLER_SETTINGS = ("ORCH_DATA_DIR", "ORCH_COLLECTION", "ORCH_CHROMA_HOST", "ORCH_CHROMA_PORT", "ORCH_CHROMA_SSL")


# --------------------------------------------------------------------------- corpus (pure)
@dataclass(frozen=True)
class CorpusFile:
    """One document to write into the docs folder: where it came from and its text."""

    name: str  # relative path inside the docs folder, with the suffix the ingest reads it by
    text: str
    origin: str  # "eval", "package-docs", "docstrings" or "facts"


def normalized(text: str) -> str:
    """The text as duplicates are compared: lowercased, runs of whitespace as one space."""
    return " ".join(text.lower().split())


def text_hash(text: str) -> str:
    return hashlib.sha256(normalized(text).encode("utf-8")).hexdigest()


def without_duplicates(files: Iterable[CorpusFile], dropped: list[CorpusFile]) -> Iterator[CorpusFile]:
    """The files whose normalized text no earlier file had; each duplicate is appended to `dropped`."""
    seen: set[str] = set()
    for corpus_file in files:
        digest = text_hash(corpus_file.text)
        if digest in seen:
            dropped.append(corpus_file)
            continue
        seen.add(digest)
        yield corpus_file


def duplicate_chunk_share(chunks: Sequence[str]) -> float:
    """The share of chunks whose normalized text an earlier chunk already had (0 for none)."""
    if not chunks:
        return 0.0
    return 1.0 - len({normalized(chunk) for chunk in chunks}) / len(chunks)


def is_prose(text: str) -> bool:
    """Whether a text reads as documentation, not a word list, a table of numbers or a data file."""
    lines = [line for line in text.splitlines() if line.strip()]
    if len(text) < 300 or not lines:
        return False
    letters = sum(ch.isalpha() or ch.isspace() for ch in text) / len(text)
    words_per_line = sum(len(line.split()) for line in lines) / len(lines)
    return letters >= 0.75 and words_per_line >= 4


@dataclass
class Selection:
    """The files of one size, with the estimate of their chunks (each file's estimate, in order)."""

    files: list[CorpusFile] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)

    @property
    def estimated_chunks(self) -> int:
        return sum(self.chunks)


def select_files(
    files: Iterable[CorpusFile], target_chunks: int, count_chunks: Callable[[CorpusFile], int]
) -> Selection:
    """Files in order until their estimated chunks reach target_chunks: a bigger target gives a superset."""
    selection = Selection()
    for corpus_file in files:
        if selection.estimated_chunks >= target_chunks:
            break
        selection.files.append(corpus_file)
        selection.chunks.append(count_chunks(corpus_file))
    return selection


# --------------------------------------------------------------------------- facts of our own (pure)
FIRST_PARTS = ["Tarn", "Quill", "Oster", "Fenn", "Harl", "Corr", "Wyn", "Brack", "Mell", "Sorrow", "Ash", "Thistle"]
SECOND_PARTS = ["wick", "haven", "mere", "ford", "stead", "holt", "gate", "combe", "ley", "thorpe", "brook", "moor"]


@dataclass(frozen=True)
class Fact:
    """A made-up fact in a document of its own: the question about it and the value that answers it."""

    name: str
    question: str
    value: str
    changed_value: str
    template: int

    def document(self, value: str | None = None) -> CorpusFile:
        """The fact's file, stating `value` (default: the original value)."""
        return CorpusFile(f"facts/{self.name.lower()}.md", fact_text(self, value or self.value), "facts")


def place_name(index: int) -> str:
    """A made-up place name, different for each index below len(FIRST_PARTS) * len(SECOND_PARTS)."""
    first = FIRST_PARTS[index % len(FIRST_PARTS)]
    second = SECOND_PARTS[(index // len(FIRST_PARTS) + index) % len(SECOND_PARTS)]
    return first + second


FACT_TEMPLATES = [
    (
        "# {name} ferry\n\nThe {name} ferry leaves the north pier at {value} on weekdays. The crossing takes "
        "forty minutes and bicycles travel free.\n",
        "At what time does the {name} ferry leave the north pier?",
    ),
    (
        "# {name} reservoir\n\nThe {name} reservoir holds {value} million litres when full. It was dug by hand "
        "and is fed by two streams from the hills.\n",
        "How many million litres does the {name} reservoir hold?",
    ),
    (
        "# {name} bell tower\n\nThe bell tower of {name} is {value} metres tall. Its clock was wound by the "
        "same family for three generations.\n",
        "How tall is the bell tower of {name}?",
    ),
    (
        "# {name} archive\n\nThe {name} archive keeps {value} boxes of parish letters. Readers book a desk a "
        "week ahead and may not bring ink.\n",
        "How many boxes of parish letters does the {name} archive keep?",
    ),
]


def fact_value(template: int, index: int, changed: bool) -> str:
    """A value of the template's kind, distinct per index; the changed value differs from the original."""
    step = index * 7 + (3 if changed else 0) + 1
    if template == 0:
        return f"{6 + step % 12:02d}:{(step * 5) % 60:02d}"
    return str(100 + step * 13)


def fact_text(fact: Fact, value: str) -> str:
    return FACT_TEMPLATES[fact.template][0].format(name=fact.name, value=value)


def make_facts(count: int) -> list[Fact]:
    """`count` made-up facts, each about a different place, cycling through the templates."""
    facts = []
    for index in range(count):
        template = index % len(FACT_TEMPLATES)
        name = place_name(index)
        facts.append(
            Fact(
                name=name,
                question=FACT_TEMPLATES[template][1].format(name=name),
                value=fact_value(template, index, changed=False),
                changed_value=fact_value(template, index, changed=True),
                template=template,
            )
        )
    return facts


# --------------------------------------------------------------------------- growth fit and table (pure)
@dataclass(frozen=True)
class Fit:
    """value = intercept + slope * x, with x = N ("linear") or ln N ("log"); rmse over the measured sizes."""

    shape: str
    intercept: float
    slope: float
    rmse: float

    def at(self, n: float) -> float:
        return self.intercept + self.slope * (n if self.shape == "linear" else math.log(n))


def least_squares(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """(intercept, slope) of the ordinary least-squares line through the points."""
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else 0.0
    return mean_y - slope * mean_x, slope


def fit_growth(sizes: Sequence[float], values: Sequence[float]) -> list[Fit]:
    """Least-squares fits of value against N and against ln N (best first); none for fewer than two sizes."""
    if len(set(sizes)) < 2:
        return []
    fits = []
    for shape in ("linear", "log"):
        xs = [n if shape == "linear" else math.log(n) for n in sizes]
        intercept, slope = least_squares(xs, values)
        errors = [(intercept + slope * x - y) ** 2 for x, y in zip(xs, values)]
        fits.append(Fit(shape, intercept, slope, math.sqrt(statistics.fmean(errors))))
    return sorted(fits, key=lambda fit: fit.rmse)


# (key in a size's result, row label, unit shown, how a value is shown)
METRICS = [
    ("chunks", "chunks in the collection", "", "{:,.0f}"),
    ("ingest_s", "ingest (wall clock)", "s", "{:,.1f}"),
    ("ingest_rate", "ingest rate", "chunks/s", "{:,.1f}"),
    ("ingest_rss_mb", "ingest peak RSS", "MB", "{:,.0f}"),
    ("disk_mb", "data folder on disk", "MB", "{:,.1f}"),
    ("cold_ask_s", "cold docs `ask` (median, to exit)", "s", "{:,.2f}"),
    ("warm_p50_s", "warm docs answer p50", "s", "{:,.2f}"),
    ("warm_p95_s", "warm docs answer p95", "s", "{:,.2f}"),
    ("change_s", "one file changed: re-ingest + answer", "s", "{:,.2f}"),
    ("bm25_p50_ms", "retriever mode=bm25 p50", "ms", "{:,.0f}"),
    ("vector_p50_ms", "retriever mode=vector p50", "ms", "{:,.0f}"),
    ("hybrid_p50_ms", "retriever mode=hybrid p50", "ms", "{:,.0f}"),
    ("embed_query_p50_ms", "of which: embedding the question p50", "ms", "{:,.0f}"),
]
# Figures that are rates or shares: their growth is not projected (ingest time is, and the rate follows from it).
NOT_PROJECTED = {"ingest_rate", "chunks"}


def projection(rows: Sequence[dict], key: str, target: int) -> str:
    """What the fits over the measured sizes give for `target` chunks, as text: "linear X · log Y"."""
    points = [(row["chunks"], row[key]) for row in rows if row.get(key) is not None and row.get("chunks")]
    fits = fit_growth([n for n, _ in points], [v for _, v in points])
    if not fits:
        return "n/a (one size)"
    shown = {fit.shape: fit for fit in fits}
    if all(fit.slope <= 0 for fit in fits):
        return "did not grow with N"  # a projection of a falling line would be meaningless
    return " · ".join(f"{shape} {shown[shape].at(target):,.2f}" for shape in ("linear", "log"))


def render_table(rows: Sequence[dict], target: int = PROJECTED_SIZE) -> str:
    """A Markdown table: one column per measured size (its label), one for the fits' projection to `target`."""
    header = ["figure", *[row["label"] for row in rows], f"{target:,} (fit: linear · log)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, label, unit, style in METRICS:
        if all(row.get(key) is None for row in rows):
            continue
        cells = [style.format(row[key]) if row.get(key) is not None else "—" for row in rows]
        projected = "—" if key in NOT_PROJECTED else projection(rows, key, target)
        name = f"{label} ({unit})" if unit else label
        lines.append("| " + " | ".join([name, *cells, projected]) + " |")
    return "\n".join(lines)


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of the values."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --------------------------------------------------------------------------- reading real text
def package_dirs() -> list[Path]:
    """The running interpreter's site-packages and, for a virtual environment, its base interpreter's."""
    paths = [sysconfig.get_paths()["purelib"]]
    paths.append(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
    return [Path(p) for p in dict.fromkeys(paths) if Path(p).is_dir()]


def read_text(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def safe_name(*parts: str) -> str:
    return "/".join(re.sub(r"[^A-Za-z0-9._-]+", "_", part) for part in parts)


def eval_corpus_files(eval_dir: Path) -> Iterator[CorpusFile]:
    if not (eval_dir / "dev" / "corpus").is_dir():
        raise SystemExit(f"no eval corpora in {eval_dir} (expected dev/corpus and val/corpus): pass --eval-dir")
    for split in ("dev", "val"):
        for path in sorted((eval_dir / split / "corpus").glob("*")):
            text = read_text(path) if path.suffix in DOC_SUFFIXES else None
            if text:
                yield CorpusFile(safe_name("eval", split, path.stem) + ".txt", text, "eval")


def package_doc_files(roots: Sequence[Path]) -> Iterator[CorpusFile]:
    for root_index, root in enumerate(roots):
        for path in sorted(root.rglob("*")):
            is_description = path.name == "METADATA" and path.parent.name.endswith(".dist-info")
            if not (is_description or path.suffix in DOC_SUFFIXES) or NOT_DOCUMENTATION.match(path.name):
                continue
            text = read_text(path) if path.is_file() else None
            if text and is_prose(text):
                # .rst is not a format the ingest reads; its text goes in as plain text.
                suffix = ".md" if path.suffix == ".md" else ".txt"
                yield CorpusFile(
                    safe_name("packages", str(root_index), *path.relative_to(root).parts) + suffix, text, "package-docs"
                )


def docstrings_of(source: str) -> list[tuple[str, str]]:
    """(qualified name, docstring) for the module, its classes and functions, in source order."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []
    module_doc = ast.get_docstring(tree)
    if module_doc:
        found.append(("module", module_doc))
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc) >= 80:
                found.append((node.name, doc))
    return found


def docstring_files(roots: Sequence[Path]) -> Iterator[CorpusFile]:
    for root_index, root in enumerate(roots):
        for path in sorted(root.rglob("*.py")):
            source = read_text(path)
            if not source:
                continue
            docs = docstrings_of(source)
            text = "\n\n".join(f"## {name}\n\n{doc}" for name, doc in docs)
            if len(text) >= 500:
                module = ".".join(path.relative_to(root).with_suffix("").parts)
                yield CorpusFile(
                    safe_name("docstrings", str(root_index), module) + ".md", f"# {module}\n\n{text}", "docstrings"
                )


def real_text(eval_dir: Path, roots: Sequence[Path]) -> Iterator[CorpusFile]:
    """Every source in its fixed order: eval corpora, package documentation, docstrings."""
    yield from eval_corpus_files(eval_dir)
    yield from package_doc_files(roots)
    yield from docstring_files(roots)


class ChunkCounter:
    """Estimates a file's chunks with the splitter settings the ingest uses, and keeps the chunk texts."""

    def __init__(self, chunk_size: int, chunk_overlap: int) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self._splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        self.texts: list[str] = []

    def __call__(self, corpus_file: CorpusFile) -> int:
        chunks = self._splitter.split_text(corpus_file.text)
        self.texts.extend(chunks)
        return len(chunks)


@dataclass
class BuiltCorpus:
    """What a size's docs folder holds and how it was chosen."""

    files: int
    estimated_chunks: int
    duplicate_files_dropped: int
    duplicate_chunk_share: float
    by_origin: dict[str, int]
    manifest: str  # hash of the file names and texts: the same corpus gives the same manifest


def build_corpus(
    docs: Path, target_chunks: int, eval_dir: Path, roots: Sequence[Path], facts: Sequence[Fact]
) -> BuiltCorpus:
    """Write the facts and real text up to target_chunks into `docs` (emptied first)."""
    from orchestrator.config import Settings

    settings = Settings()
    counter = ChunkCounter(settings.chunk_size, settings.chunk_overlap)
    dropped: list[CorpusFile] = []
    fact_files = [fact.document() for fact in facts]
    selection = select_files(
        without_duplicates(itertools.chain(fact_files, real_text(eval_dir, roots)), dropped), target_chunks, counter
    )
    shutil.rmtree(docs, ignore_errors=True)
    manifest = hashlib.sha256()
    by_origin: dict[str, int] = {}
    for corpus_file in selection.files:
        path = docs / corpus_file.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(corpus_file.text, encoding="utf-8")
        manifest.update(corpus_file.name.encode() + b"\0" + corpus_file.text.encode() + b"\0")
        by_origin[corpus_file.origin] = by_origin.get(corpus_file.origin, 0) + 1
    return BuiltCorpus(
        files=len(selection.files),
        estimated_chunks=selection.estimated_chunks,
        duplicate_files_dropped=len(dropped),
        duplicate_chunk_share=duplicate_chunk_share(counter.texts),
        by_origin=by_origin,
        manifest=manifest.hexdigest(),
    )


# --------------------------------------------------------------------------- measuring (subprocesses)
def orchestrator_env(data_dir: Path, models_dir: Path, chroma_port: int | None) -> dict[str, str]:
    """The caller's environment with a data folder of its own, the caller's pulled models, optionally a Chroma server."""
    env = {key: value for key, value in os.environ.items() if key not in CALLER_SETTINGS}
    env.update({"ORCH_DATA_DIR": str(data_dir), "ORCH_MODELS_DIR": str(models_dir)})
    if chroma_port is not None:
        env.update({"ORCH_CHROMA_HOST": "127.0.0.1", "ORCH_CHROMA_PORT": str(chroma_port)})
    return env


@dataclass
class Run:
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_measured(command: list[str], env: dict[str, str], cwd: Path, timeout: float) -> Run:
    """Run a command to its exit: wall clock and the peak RSS of the process and what it waited for (wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=cwd, text=True)
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                raise SystemExit(f"{' '.join(command[:4])} ... took over {timeout:.0f} s")
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        run = Run(seconds, usage.ru_maxrss / 1024, out.read(), err.read())
    if process.returncode != 0:
        raise SystemExit(f"`{' '.join(command[2:5])} ...` failed ({process.returncode}):\n{run.stderr[-3000:]}")
    return run


def orchestrator_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "orchestrator", *arguments]


def ask_json(question: str, env: dict[str, str], cwd: Path, route: str) -> tuple[float, dict]:
    run = run_measured(orchestrator_command("ask", "--json", "--route", route, question), env, cwd, timeout=600)
    return run.seconds, json.loads(run.stdout.strip().splitlines()[-1])


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def worker_command(questions: Sequence[str], route: str) -> list[str]:
    return [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--route",
        route,
        "--questions",
        json.dumps(questions),
    ]


RETRIEVER_MODES = ("bm25", "vector", "hybrid")


def run_worker(questions: Sequence[str], route: str) -> dict:
    """In the worker process: chunk count, warm docs answers and retriever timings through the public API."""
    from orchestrator import Settings, build_app, make_retriever

    settings = Settings()
    forced = None if route == "auto" else route
    retriever = make_retriever(settings)
    store = getattr(retriever, "store", None)
    result: dict = {"chunks": store.count() if store is not None else 0}
    with build_app(settings) as app:
        start = time.perf_counter()
        app.invoke({"question": questions[0], "route": forced})
        result["first_answer_in_process_s"] = time.perf_counter() - start
        answers = []
        for question in questions[1:]:
            start = time.perf_counter()
            answer = app.invoke({"question": question, "route": forced})
            answers.append({"seconds": time.perf_counter() - start, "route": answer.route, "answer": answer.answer})
        result["answers"] = answers
    if store is not None:
        timed = {mode: retriever.model_copy(update={"mode": mode}).retrieve_with_scores for mode in RETRIEVER_MODES}
        timed["embed_query"] = store.embeddings.embed_query
        for name, function in timed.items():
            function(questions[0])  # loads what this mode needs
            result[f"{name}_ms"] = []
        for question in questions[1:]:  # the modes take turns, so load from other processes hits each alike
            for name, function in timed.items():
                result[f"{name}_ms"].append(timed_ms(function, question))
    return result


def timed_ms(function: Callable, argument: str) -> float:
    start = time.perf_counter()
    function(argument)
    return (time.perf_counter() - start) * 1000


def answer_holds(answer: str, value: str) -> bool:
    """Whether an answer states the value (a number not as part of a longer number)."""
    return re.search(rf"(?<![\d:.]){re.escape(value)}(?![\d:])", answer) is not None


@dataclass
class SizeResult:
    label: str
    target: int
    corpus: dict
    chunks: int = 0
    ingest_s: float | None = None
    ingest_rate: float | None = None
    ingest_rss_mb: float | None = None
    ingest_reused: bool = False
    disk_mb: float | None = None
    cold_ask_s: float | None = None
    cold_ask_runs_s: list[float] = field(default_factory=list)
    cold_route: str | None = None
    cold_right: bool | None = None
    first_answer_in_process_s: float | None = None
    warm_p50_s: float | None = None
    warm_p95_s: float | None = None
    warm_routes: dict[str, int] = field(default_factory=dict)
    warm_right: int | None = None
    warm_questions: int = 0
    change_s: float | None = None
    change_ingest_s: float | None = None
    change_ask_s: float | None = None
    change_answer_updated: bool | None = None
    bm25_p50_ms: float | None = None
    vector_p50_ms: float | None = None
    hybrid_p50_ms: float | None = None
    embed_query_p50_ms: float | None = None


def measure_size(target: int, label: str, args: argparse.Namespace, work: Path, chroma_port: int | None) -> SizeResult:
    """Build, ingest and measure one size (see the module docstring)."""
    folder = work / (f"size-{target}" + ("-chroma-server" if chroma_port is not None else ""))
    docs, data = folder / "docs", folder / "data"
    facts = make_facts(args.questions + 3)  # 0: the edited file, 1: cold ask, 2: warm-up, 3...: warm answers
    print(f"[{label}] building the corpus ...", file=sys.stderr, flush=True)
    corpus = build_corpus(docs, target, args.eval_dir, args.package_dir or package_dirs(), facts)
    result = SizeResult(label=label, target=target, corpus=asdict(corpus))
    env = orchestrator_env(data, args.models_dir, chroma_port)
    recorded = folder / "ingest.json"
    previous = json.loads(recorded.read_text()) if args.keep and recorded.is_file() else {}
    built_by = git_commit()  # an ingest made by other code is not reused: its speed and its files may differ
    if (previous.get("manifest"), previous.get("commit")) == (corpus.manifest, built_by) and chroma_port is None:
        result.ingest_s, result.ingest_rss_mb, result.ingest_reused = previous["seconds"], previous["rss_mb"], True
    else:
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        print(
            f"[{label}] ingesting {corpus.files} files (~{corpus.estimated_chunks} chunks) ...",
            file=sys.stderr,
            flush=True,
        )
        run = run_measured(orchestrator_command("ingest", str(docs)), env, folder, timeout=args.ingest_timeout)
        result.ingest_s, result.ingest_rss_mb = run.seconds, run.peak_rss_mb
        recorded.write_text(
            json.dumps(
                {"manifest": corpus.manifest, "commit": built_by, "seconds": run.seconds, "rss_mb": run.peak_rss_mb}
            )
        )
    server_bytes = folder_bytes(args.chroma_path) if chroma_port is not None and args.chroma_path else 0
    result.disk_mb = (folder_bytes(data) + server_bytes) / 1e6

    print(f"[{label}] warm answers and retrieval ...", file=sys.stderr, flush=True)
    questions = [facts[2].question, *(fact.question for fact in facts[3:])]
    worker = run_measured(worker_command(questions, args.route), env, folder, timeout=3600)
    measured = json.loads(worker.stdout.strip().splitlines()[-1])
    result.chunks = measured["chunks"]
    result.ingest_rate = result.chunks / result.ingest_s if result.ingest_s else None
    result.first_answer_in_process_s = measured["first_answer_in_process_s"]
    seconds = [answer["seconds"] for answer in measured["answers"]]
    result.warm_questions = len(seconds)
    result.warm_p50_s, result.warm_p95_s = statistics.median(seconds), percentile(seconds, 0.95)
    for answer in measured["answers"]:
        result.warm_routes[answer["route"]] = result.warm_routes.get(answer["route"], 0) + 1
    result.warm_right = sum(answer_holds(a["answer"], fact.value) for a, fact in zip(measured["answers"], facts[3:]))
    for mode in ("bm25", "vector", "hybrid", "embed_query"):
        if f"{mode}_ms" in measured:
            setattr(result, f"{mode}_p50_ms", statistics.median(measured[f"{mode}_ms"]))

    print(f"[{label}] cold ask x{args.cold_runs} ...", file=sys.stderr, flush=True)
    ask_json(facts[1].question, env, folder, args.route)  # not timed: the page cache, as for any second run
    for _ in range(args.cold_runs):
        wall, row = ask_json(facts[1].question, env, folder, args.route)
        result.cold_ask_runs_s.append(wall)
    result.cold_ask_s = statistics.median(result.cold_ask_runs_s)
    result.cold_route, result.cold_right = row["route"], answer_holds(row["answer"], facts[1].value)

    print(f"[{label}] one file changed ...", file=sys.stderr, flush=True)
    edited = facts[0]
    changed = edited.document(edited.changed_value)
    (docs / changed.name).write_text(changed.text, encoding="utf-8")
    start = time.perf_counter()
    reingest = run_measured(orchestrator_command("ingest", str(docs)), env, folder, timeout=args.ingest_timeout)
    wall, row = ask_json(edited.question, env, folder, args.route)
    result.change_s = time.perf_counter() - start
    result.change_ingest_s, result.change_ask_s = reingest.seconds, wall
    result.change_answer_updated = answer_holds(row["answer"], edited.changed_value) and not answer_holds(
        row["answer"], edited.value
    )
    original = edited.document()
    (docs / original.name).write_text(original.text, encoding="utf-8")
    run_measured(orchestrator_command("ingest", str(docs)), env, folder, timeout=args.ingest_timeout)  # as built
    return result


# --------------------------------------------------------------------------- Chroma server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChromaServer:
    """`chroma run` on 127.0.0.1 with a temporary folder, as tests/integration/test_chroma_server.py starts it."""

    def __init__(self, path: Path) -> None:
        self.path, self.port = path, free_port()
        chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        command = [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self) -> ChromaServer:
        import chromadb

        deadline = time.monotonic() + 60
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port).heartbeat()
                return self
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.process.kill()
                    raise SystemExit("chroma run did not start") from None
                time.sleep(0.5)

    def __exit__(self, *exc_info) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


# --------------------------------------------------------------------------- main
def default_models_dir() -> Path:
    from orchestrator.config import Settings

    return Settings().resolved_models_dir


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help=f"target chunk counts, comma-separated ({DEFAULT_SIZES})"
    )
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR, help="holds dev/corpus and val/corpus")
    parser.add_argument(
        "--package-dir", type=Path, action="append", help="site-packages to read (default: this Python's)"
    )
    parser.add_argument("--models-dir", type=Path, help="pulled models (default: the caller's ORCH_MODELS_DIR)")
    parser.add_argument("--questions", type=int, default=20, help="warm questions per size (20)")
    parser.add_argument("--cold-runs", type=int, default=3, help="timed cold `ask` runs per size (3, median)")
    parser.add_argument("--route", default="auto", help="route for every question: auto (default) or docs")
    parser.add_argument("--chroma-server", action="store_true", help="also measure the largest size on `chroma run`")
    parser.add_argument("--chroma-only", action="store_true", help="only the Chroma server run")
    parser.add_argument("--keep", type=Path, help="keep built sizes here and reuse an ingest of the same corpus")
    parser.add_argument("--ingest-timeout", type=float, default=6 * 3600)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--project", type=int, default=PROJECTED_SIZE, help="project the fits to this many chunks")
    args = parser.parse_args(argv)
    args.chroma_path = None
    return args


def main(argv: Sequence[str] | None = None) -> None:
    if "--worker" in (argv or sys.argv[1:]):
        worker_args = argparse.ArgumentParser()
        worker_args.add_argument("--worker", action="store_true")
        worker_args.add_argument("--route", default="auto")
        worker_args.add_argument("--questions", required=True)
        parsed = worker_args.parse_args(argv)
        print(json.dumps(run_worker(json.loads(parsed.questions), parsed.route)))
        return
    args = parse_args(argv)
    args.models_dir = args.models_dir or default_models_dir()
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    work = args.keep or Path(tempfile.mkdtemp(prefix="orchestrator-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: list[SizeResult] = []
    try:
        if not args.chroma_only:
            for target in sizes:
                results.append(measure_size(target, f"{target:,}", args, work, None))
        if args.chroma_server or args.chroma_only:
            args.chroma_path = work / "chroma-server"
            shutil.rmtree(args.chroma_path, ignore_errors=True)
            with ChromaServer(args.chroma_path) as server:
                target = max(sizes)
                results.append(measure_size(target, f"{target:,} (Chroma server)", args, work, server.port))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    local = [asdict(result) for result in results if "server" not in result.label]
    report = {
        "commit": git_commit(),
        "sizes": [asdict(result) for result in results],
        "table": render_table([asdict(result) for result in results], args.project),
        "projection_rows_from": [row["label"] for row in local],
    }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(render_table([asdict(result) for result in results], args.project))
    print()
    print(details(results))


def details(results: Sequence[SizeResult]) -> str:
    """The checks behind the table: corpus make-up, routes taken and whether the answers were right."""
    lines = []
    for result in results:
        corpus = result.corpus
        lines.append(
            f"- {result.label}: {corpus['files']} files ({', '.join(f'{k} {v}' for k, v in corpus['by_origin'].items())}), "
            f"{corpus['duplicate_files_dropped']} duplicate files dropped, "
            f"{corpus['duplicate_chunk_share']:.1%} of the remaining chunk texts duplicated; "
            f"cold ask route {result.cold_route}, right {result.cold_right}; "
            f"warm routes {result.warm_routes}, {result.warm_right}/{result.warm_questions} right; "
            f"after the edit: re-ingest {result.change_ingest_s:.1f} s + ask {result.change_ask_s:.1f} s, "
            f"answer updated {result.change_answer_updated}"
            + ("; ingest reused from --keep" if result.ingest_reused else "")
        )
    return "\n".join(lines)


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=PROJECT_ROOT)
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
