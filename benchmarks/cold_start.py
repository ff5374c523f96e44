"""Cold `orchestrator ask "Hi"`: does it stay short as the data folder grows? (issue 30, item 4)

    python benchmarks/cold_start.py [--runs 5] [--chunks 10000] [--collections 5] [--folder DIR] [--baseline CMD]

Times N cold `orchestrator ask QUESTION` processes, wall clock from start to process exit (atexit
handlers, model frees and interpreter shutdown included), in three states of data folders that share the
models folder:

* fresh: an empty data folder (one untimed run first, so both folders have their caches);
* library: the same plus `--collections` collections holding `--chunks` chunks in all. The default
  collection is real: the shipped sample documents ingested with the real embedder. The others are
  written through the store API with a cheap deterministic embedding (word hashing, 384 dimensions),
  since what is measured is opening them, not embedding; their text is made of words drawn with a
  fixed seed from the route set, in chunks of about 60 words. The library is built once and reused
  (`--folder`, default a folder in the temporary directory; `--rebuild` builds it again);
* after a write: the library again, with one chunk added to and removed from another collection
  before each run (an ingest elsewhere), so nothing recorded about the store's previous state holds.

Runs alternate between the folders (and, with `--baseline CMD`, between this install and another one,
e.g. main's in its own venv), so a shared machine's load falls on all alike. Prints the median
wall clock and CPU seconds (this process's children: the app and its SymPy worker) of each, and each
against fresh. `--timings` adds one `ask --timings` breakdown per variant.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIMENSION = 384  # all-MiniLM-L6-v2's, so the cheap collections look like real ones to Chroma
WORDS_PER_CHUNK = 60
BATCH = 1000
SEED = 30
CHEAP_ID_FIELDS = ("word-hash-benchmark", "0" * 64, 0, DIMENSION)


def cheap_id():
    """The identity the cheap collections record as their embedding model."""
    from orchestrator.knowledge.store import EmbeddingModelId

    return EmbeddingModelId(*CHEAP_ID_FIELDS)


def cheap_collection_names(collections: int) -> list[str]:
    """The names of the collections built with the cheap embedding (the default collection is the real one)."""
    return [f"library-{index}" for index in range(1, collections)]


def word_pool() -> list[str]:
    """The distinct words of the route set (our own text), sorted so a seed draws the same chunks everywhere."""
    from orchestrator.resources import route_examples_file
    from orchestrator.text import words

    pool: set[str] = set()
    for line in route_examples_file().read_text(encoding="utf-8").splitlines():
        if line.strip():
            pool.update(word for word in words(json.loads(line)["text"]) if word.isalpha())
    return sorted(pool)


def build_library(folder: Path, models_dir: Path, chunks: int, collections: int) -> dict:
    """Write the library data folder (see the module docstring); returns what it holds."""
    from orchestrator import Settings, build_app
    from orchestrator.knowledge.store import open_store
    from orchestrator.resources import sample_docs_dir
    from tests.helpers.word_hash import WordHashEmbeddings

    shutil.rmtree(folder, ignore_errors=True)
    settings = Settings(data_dir=folder, models_dir=models_dir)
    with build_app(settings) as app:
        real = app.ingest(sample_docs_dir()).chunks_total
    embeddings = WordHashEmbeddings(dim=DIMENSION)
    rng = random.Random(SEED)
    pool = word_pool()
    names = cheap_collection_names(collections)
    remaining = max(0, chunks - real)
    sizes = [remaining // len(names) + (index < remaining % len(names)) for index in range(len(names))]
    for name, size in zip(names, sizes):
        store = open_store(settings, embeddings, cheap_id(), name)
        for start in range(0, size, BATCH):
            ids = [f"{name}-{i:06d}" for i in range(start, min(size, start + BATCH))]
            texts = [" ".join(rng.choices(pool, k=WORDS_PER_CHUNK)) + "." for _ in ids]
            metadatas = [{"source": f"synthetic/{name}/file-{i // 20:04d}.txt"} for i in range(start, start + len(ids))]
            store.add(texts, metadatas, ids)
    shipped = {"default": real, **dict(zip(names, sizes))}
    (folder / "library.json").write_text(json.dumps({"chunks": chunks, "collections": collections, "held": shipped}))
    return shipped


def library_folder(folder: Path, models_dir: Path, chunks: int, collections: int, rebuild: bool) -> dict:
    """The library, built unless `folder` already holds one of this size."""
    marker = folder / "library.json"
    if not rebuild and marker.exists():
        recorded = json.loads(marker.read_text())
        if (recorded["chunks"], recorded["collections"]) == (chunks, collections):
            return recorded["held"]
    started = time.perf_counter()
    held = build_library(folder, models_dir, chunks, collections)
    print(f"built the library in {time.perf_counter() - started:.1f} s: {held}", flush=True)
    return held


def write_elsewhere(folder: Path, models_dir: Path, collections: int) -> None:
    """Add one chunk to the last cheap collection and remove it again: a write to the store, as an ingest makes."""
    from orchestrator import Settings
    from orchestrator.knowledge.store import open_store
    from tests.helpers.word_hash import WordHashEmbeddings

    settings = Settings(data_dir=folder, models_dir=models_dir)
    name = cheap_collection_names(collections)[-1]
    store = open_store(settings, WordHashEmbeddings(dim=DIMENSION), cheap_id(), name, fresh=True, verify=False)
    store.add(["A note written between two questions."], [{"source": "synthetic/note.txt"}], ["benchmark-note"])
    store.delete(["benchmark-note"])


def environment(data_dir: Path, models_dir: Path) -> dict[str, str]:
    return {**os.environ, "ORCH_DATA_DIR": str(data_dir), "ORCH_MODELS_DIR": str(models_dir)}


def orchestrator_command() -> list[str]:
    """The installed console script next to this Python (what a user runs), else the module."""
    script = Path(sys.executable).with_name("orchestrator")
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestrator"]


def time_ask(
    command: list[str], question: str, env: dict[str, str], extra: tuple[str, ...] = ()
) -> tuple[float, float, str]:
    """(wall seconds to process exit, CPU seconds of the process and its children, stderr) of one cold ask."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([*command, "ask", question, *extra], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"ask failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--collections", type=int, default=5)
    parser.add_argument("--question", default="Hi")
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "orchestrator-cold-start-bench")
    parser.add_argument("--rebuild", action="store_true", help="Build the library again even if the folder holds one.")
    parser.add_argument("--timings", action="store_true", help="Also print one `ask --timings` breakdown per folder.")
    parser.add_argument(
        "--baseline",
        default=None,
        help="Another install's `orchestrator` command (e.g. main's, in its own venv): every variant is run with it too.",
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from orchestrator import Settings

    models_dir = Settings().resolved_models_dir
    library = args.folder / "library"
    held = library_folder(library, models_dir, args.chunks, args.collections, args.rebuild)
    fresh = args.folder / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    write = lambda: write_elsewhere(library, models_dir, args.collections)  # noqa: E731
    folders = {  # name: (environment, what to do before each run)
        "fresh": (environment(fresh, models_dir), None),
        "library": (environment(library, models_dir), None),
        "after a write": (environment(library, models_dir), write),
    }
    commands = {"": orchestrator_command(), **({" (baseline)": args.baseline.split()} if args.baseline else {})}
    variants = {
        name + suffix: (command, env, before)
        for name, (env, before) in folders.items()
        for suffix, command in commands.items()
    }
    for command, env, _ in variants.values():  # untimed: caches (model header info, keyword index) as a run finds them
        time_ask(command, args.question, env)
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    for run in range(args.runs):
        for name, (command, env, before) in variants.items():
            if before is not None:
                before()
            wall, cpu, _ = time_ask(command, args.question, env)
            walls[name].append(wall)
            cpus[name].append(cpu)
            print(f"run {run + 1} {name:24} wall {wall:5.2f} s  cpu {cpu:5.2f} s", flush=True)
    medians = {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in variants}
    print(f"\ncold `ask {args.question!r}`, median of {args.runs} (library: {sum(held.values()):,} chunks in {held})")
    for name, (wall, cpu) in medians.items():
        fresh_wall, fresh_cpu = medians["fresh" + name.removeprefix(name.split(" (")[0])]
        print(
            f"  {name:24} wall {wall:5.2f} s ({wall / fresh_wall:.2f}x fresh)  cpu {cpu:5.2f} s ({cpu / fresh_cpu:.2f}x)"
        )
    if args.timings:
        for name, (command, env, before) in variants.items():
            if before is not None:
                before()
            _, _, stderr = time_ask(command, args.question, env, ("--timings",))
            print(f"\n{name}:{stderr.rstrip()}")
    if args.json:
        report = {"question": args.question, "runs": args.runs, "library": held, "walls": walls, "cpus": cpus}
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
