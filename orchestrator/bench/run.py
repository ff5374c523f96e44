"""Plan and run `orchestrator bench`: quality, then speed (fresh processes, alternating order), then task scores."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.bench.footprint import ModelFootprint, model_footprint
from orchestrator.bench.quality import DEFAULT_PPL_CTX, QualityResult
from orchestrator.bench.speed import DEFAULT_GENERATED_TOKENS, DEFAULT_PROMPT_TOKENS
from orchestrator.bench.stats import Spread
from orchestrator.errors import ConfigError
from orchestrator.progress import Progress

if TYPE_CHECKING:
    from orchestrator.config import Settings


@dataclass
class BenchOptions:
    """What to measure and how often."""

    repeats: int = 3
    n_prompt: int = DEFAULT_PROMPT_TOKENS
    n_generate: int = DEFAULT_GENERATED_TOKENS
    ppl_ctx: int = DEFAULT_PPL_CTX
    max_chunks: int | None = 8  # llama-perplexity's --chunks; base log-probs take chunks*ctx/2*vocab*4 bytes
    n_threads: int = 1
    bandwidth_bytes: int = 256 << 20


@dataclass
class EvalTask:
    """Task accuracy: every model answers an `orchestrator eval` question set with the app around it."""

    questions: Path
    settings: Settings  # the app's settings; the chat model is replaced by each benchmarked model
    output_dir: Path  # OUTPUT/eval: one folder per model, one scratch knowledge base shared by all
    corpus: Path | None = None

    def check(self) -> None:
        """Fail before the long measurements if the question file or corpus is unusable."""
        from orchestrator.evaluate import read_eval_questions

        read_eval_questions(self.questions)
        if self.corpus is not None and not Path(self.corpus).is_dir():
            raise ConfigError(f"--corpus {self.corpus} is not a folder: give the folder of documents to ingest.")


@dataclass
class ModelResult:
    """Everything measured about one model."""

    name: str
    path: str
    footprint: ModelFootprint
    is_base: bool = False
    quality: QualityResult | None = None
    load_seconds: Spread | None = None
    prompt_tokens_per_second: Spread | None = None
    generation_tokens_per_second: Spread | None = None
    time_to_first_token: Spread | None = None
    peak_rss_bytes: int = 0
    rss_before_load_bytes: int = 0
    generation_bytes_per_second: float = 0.0  # file bytes x generation tok/s
    bandwidth_fraction: float = 0.0  # ... as a fraction of the measured read bandwidth
    task: dict[str, Any] | None = None  # with an EvalTask: eval's summary and where its report is


@dataclass
class BenchReport:
    """A whole bench run: machine, options, per-model results."""

    command: str
    text_path: str
    text_chars: int
    base: str
    options: BenchOptions
    machine: dict[str, Any]
    bandwidth: Any  # machine.BandwidthResult
    models: list[ModelResult] = field(default_factory=list)
    started_utc: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_text_path() -> Path:
    """The evaluation text shipped with the project (source and license: data/calibration/README.md)."""
    from orchestrator.resources import evaluation_file

    return evaluation_file()


def read_text_file(path: Path) -> str:
    """The evaluation text, or a ConfigError saying what to pass instead."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(f"Text file {path} does not exist; pass --text with a UTF-8 text file.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; pass --text with a plain-text file.") from None
    if not text.strip():
        raise ConfigError(f"{path} is empty; pass --text with a text of a few thousand words.")
    return text


def run_bench(
    models: list[tuple[str, Path]],
    text: str,
    base: tuple[str, Path] | None = None,
    options: BenchOptions | None = None,
    progress: Progress | None = None,
    command: str = "",
    text_path: str = "",
    gguf_cache: Any = None,
    eval_task: EvalTask | None = None,
) -> BenchReport:
    """Measure every (name, validated path) model; `base` (default: the first) is the KLD reference.

    `gguf_cache` (orchestrator.models.info_cache(settings)) saves re-parsing the GGUF headers.
    """
    import time
    from datetime import datetime, timezone

    from orchestrator.bench import machine
    from orchestrator.gguf_file import check_chat_model, inspect_gguf

    if not models:
        raise ConfigError("Name at least one model to benchmark.")
    for _, path in [*models, *([base] if base else [])]:
        check_chat_model(inspect_gguf(path, gguf_cache))  # perplexity and speed need a language model
    options = options or BenchOptions()
    if options.repeats < 1:
        raise ConfigError("--repeats must be at least 1.")
    if eval_task is not None:
        eval_task.check()
    base = base or models[0]
    base = next((model for model in models if Path(model[1]) == Path(base[1])), base)
    started = time.perf_counter()
    evals = len(models) if eval_task is not None else 0
    steps = _Steps(progress, total=1 + len(_quality_order(models, base)) + options.repeats * len(models) + evals)
    results = [ModelResult(name, str(path), model_footprint(inspect_gguf(path, gguf_cache))) for name, path in models]
    for result in results:
        result.is_base = Path(result.path) == Path(base[1])

    _measure_all_quality(models, base, text, options, results, steps)  # first: bad text fails fast
    steps.advance("Measuring memory bandwidth")
    bandwidth = machine.run_in_child(machine.measure_memory_bandwidth, options.bandwidth_bytes, options.n_threads)
    samples = _measure_all_speed(models, text, options, steps)
    for result, model_samples in zip(results, samples):
        _aggregate_speed(result, model_samples, bandwidth.read_gb_per_s)
    if eval_task is not None:
        _measure_all_tasks(models, eval_task, results, steps)
    return BenchReport(
        command=command,
        text_path=text_path,
        text_chars=len(text),
        base=base[0],
        options=options,
        machine=machine.machine_info(),
        bandwidth=bandwidth,
        models=results,
        started_utc=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        seconds=time.perf_counter() - started,
    )


class _Steps:
    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def advance(self, stage: str) -> None:
        if self.progress:
            self.progress(f"[{self.done + 1}/{self.total}] {stage}", self.done, self.total)
        self.done += 1


def _quality_order(models: list[tuple[str, Path]], base: tuple[str, Path]) -> list[tuple[str, Path]]:
    """The base first (its log-probs are the reference), then every other model once."""
    others = [model for model in models if Path(model[1]) != Path(base[1])]
    return [base, *others]


def _measure_all_quality(models, base, text, options: BenchOptions, results, steps: _Steps) -> None:
    from orchestrator.bench import machine
    from orchestrator.bench.quality import measure_quality

    by_path = {Path(result.path): result for result in results}
    with tempfile.TemporaryDirectory(prefix="orchestrator-bench-") as workdir:
        base_dir = Path(workdir)
        for index, (name, path) in enumerate(_quality_order(models, base)):
            steps.advance(f"Perplexity and KLD: {name}")
            is_base = index == 0
            quality = machine.run_in_child(
                measure_quality,
                str(path),
                text,
                n_ctx=options.ppl_ctx,
                max_chunks=options.max_chunks,
                n_threads=options.n_threads,
                base_logprobs_dir=None if is_base else str(base_dir),
                save_logprobs_dir=str(base_dir) if is_base else None,
            )
            if is_base:
                # Against itself KLD is 0 and the top token always agrees; not recomputed.
                quality.kld_mean = quality.kld_p99 = quality.kld_median = 0.0
                quality.same_top_fraction = 1.0
            if Path(path) in by_path:
                by_path[Path(path)].quality = quality


def _measure_all_speed(models, text, options: BenchOptions, steps: _Steps) -> list[list[Any]]:
    """Repeats interleaved, order reversed on every other repeat, so drift and heat hit all models alike."""
    from orchestrator.bench import machine
    from orchestrator.bench.speed import measure_speed

    samples: list[list[Any]] = [[] for _ in models]
    for repeat in range(options.repeats):
        order = list(range(len(models)))
        if repeat % 2:
            order.reverse()
        for index in order:
            name, path = models[index]
            steps.advance(f"Speed, repeat {repeat + 1}/{options.repeats}: {name}")
            samples[index].append(
                machine.run_in_child(
                    measure_speed,
                    str(path),
                    text,
                    n_prompt=options.n_prompt,
                    n_generate=options.n_generate,
                    n_threads=options.n_threads,
                )
            )
    return samples


def _aggregate_speed(result: ModelResult, samples: list[Any], read_gb_per_s: float) -> None:
    result.load_seconds = Spread.of([sample.load_seconds for sample in samples])
    result.prompt_tokens_per_second = Spread.of([sample.prompt_tokens_per_second for sample in samples])
    result.generation_tokens_per_second = Spread.of([sample.generation_tokens_per_second for sample in samples])
    result.time_to_first_token = Spread.of([sample.time_to_first_token for sample in samples])
    result.peak_rss_bytes = max(sample.peak_rss_bytes for sample in samples)
    result.rss_before_load_bytes = min(sample.rss_before_load_bytes for sample in samples)
    result.generation_bytes_per_second = result.footprint.size_bytes * result.generation_tokens_per_second.median
    if read_gb_per_s > 0:
        result.bandwidth_fraction = result.generation_bytes_per_second / (read_gb_per_s * 1e9)


def _measure_all_tasks(models, task: EvalTask, results: list[ModelResult], steps: _Steps) -> None:
    """Run the eval once per model, in this process, one model loaded at a time."""
    from orchestrator.evaluate import run_eval
    from orchestrator.llm import release_models

    for index, ((name, path), result) in enumerate(zip(models, results), 1):
        steps.advance(f"Task accuracy ({task.questions.name}): {name}")
        folder = task.output_dir / f"{index}-{_folder_name(name)}"
        settings = task.settings.model_copy(update={"model": str(path)})
        try:
            run = run_eval(task.questions, folder, settings, corpus=task.corpus, kb_parent=task.output_dir)
        finally:
            release_models()  # the next model must not share memory with this one
        summary = run.report["summary"]
        result.task = {
            "correct": summary["overall"]["correct"],
            "n": summary["overall"]["n"],
            "score": summary["overall"]["score"],
            "route_accuracy": summary["overall"]["route_accuracy"],
            "kinds": {kind: {"correct": entry["correct"], "n": entry["n"]} for kind, entry in summary["kinds"].items()},
            "report": _relative(run.markdown, task.output_dir.parent),
        }


def _folder_name(name: str) -> str:
    """A model's name as a folder name (registry names and file stems are already close)."""
    return "".join(char if char.isalnum() or char in "._-" else "_" for char in name)[:80] or "model"


def _relative(path: Path, root: Path) -> str:
    """The path as the bench report (in ROOT) links it."""
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)
