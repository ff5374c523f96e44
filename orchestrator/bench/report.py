"""Write a bench run as report.md (one table), report.json and tradeoff.png (matplotlib)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from orchestrator.bench.footprint import format_quant_mix

MB = 1e6


def write_reports(report: Any, output_dir: Path) -> dict[str, Path]:
    """Write all three files into output_dir; return their paths by kind."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": output_dir / "report.json",
        "markdown": output_dir / "report.md",
        "plot": output_dir / "tradeoff.png",
    }
    paths["json"].write_text(json.dumps(report_to_json(report), indent=2) + "\n", encoding="utf-8")
    plot_tradeoff(report, paths["plot"])
    paths["markdown"].write_text(render_markdown(report, plot_name=paths["plot"].name), encoding="utf-8")
    return paths


def report_to_json(report: Any) -> dict[str, Any]:
    """The report as plain JSON types, with derived per-second figures spelled out."""
    data = report.to_dict()
    for model, result in zip(data["models"], report.models):
        model["bits_per_weight"] = result.footprint.bits_per_weight
    return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


# --------------------------------------------------------------------------- markdown

_COLUMNS = (
    "Model",
    "Type",
    "Size MB",
    "Params M",
    "BPW",
    "PPL",
    "KLD mean",
    "KLD p99",
    "Same top",
    "Load s",
    "Prompt tok/s",
    "Gen tok/s",
    "Peak RSS MB",
    "Gen × size / bandwidth",
    "Tensor types",
    "Task score",
)


def _spread_cell(spread: Any, digits: int = 1) -> str:
    """'123.4 (118.0–125.2)': median and range of the repeats."""
    if spread is None:
        return "–"
    return f"{spread.median:.{digits}f} ({spread.low:.{digits}f}–{spread.high:.{digits}f})"


def _optional(value: float | None, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def table_rows(report: Any) -> list[list[str]]:
    """One row of cells per model, in the order of _COLUMNS."""
    rows = []
    for result in report.models:
        quality = result.quality
        foot = result.footprint
        name = result.name + (" (base)" if result.is_base else "")
        ppl = f"{quality.perplexity:.3f} ± {quality.perplexity_stderr:.3f}" if quality else "–"
        same_top = (
            f"{100 * quality.same_top_fraction:.1f}%" if quality and quality.same_top_fraction is not None else "–"
        )
        rows.append(
            [
                name,
                foot.file_type,
                f"{foot.size_bytes / MB:.1f}",
                f"{foot.n_params / 1e6:.1f}",
                f"{foot.bits_per_weight:.2f}",
                ppl,
                _optional(quality.kld_mean if quality else None, ".4f"),
                _optional(quality.kld_p99 if quality else None, ".4f"),
                same_top,
                _spread_cell(result.load_seconds, 2),
                _spread_cell(result.prompt_tokens_per_second),
                _spread_cell(result.generation_tokens_per_second),
                f"{result.peak_rss_bytes / MB:.0f}",
                f"{100 * result.bandwidth_fraction:.0f}%",
                format_quant_mix(foot.quant_mix),
                task_cell(result.task),
            ]
        )
    return rows


def task_cell(task: dict[str, Any] | None) -> str:
    """ "86/100 (86%)" from an eval summary, or a dash when the bench ran without --eval."""
    if not task:
        return "–"
    return f"{task['correct']}/{task['n']} ({100 * task['score']:.0f}%)"


def task_lines(report: Any) -> list[str]:
    """A per-kind table of the task scores, when the run had --eval."""
    tasked = [model for model in report.models if model.task]
    if not tasked:
        return []
    kinds = list(dict.fromkeys(kind for model in tasked for kind in model.task["kinds"]))
    lines = [
        "",
        "## Task accuracy",
        "",
        "Each model answered the `--eval` questions through the whole app (`orchestrator eval`; scoring rules "
        "and failures in each model's report).",
        "",
        "| Model | " + " | ".join(kinds) + " | overall | route accuracy | report |",
        "|---|" + "---|" * (len(kinds) + 3),
    ]
    for model in tasked:
        cells = [
            f"{model.task['kinds'][kind]['correct']}/{model.task['kinds'][kind]['n']}"
            if kind in model.task["kinds"]
            else "–"
            for kind in kinds
        ]
        route = f"{100 * model.task['route_accuracy']:.0f}%"
        lines.append(
            f"| {model.name} | "
            + " | ".join(cells)
            + f" | {task_cell(model.task)} | {route} | {model.task['report']} |"
        )
    return lines


def render_markdown(report: Any, plot_name: str = "tradeoff.png") -> str:
    """report.md: the table, how it was measured, the command and the machine."""
    options, machine, bandwidth = report.options, report.machine, report.bandwidth
    lines = [
        "# Model benchmark",
        "",
        f"![Size, speed and quality]({plot_name})",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "|".join("---" for _ in _COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(report)]
    quality = next((model.quality for model in report.models if model.quality), None)
    scored = f"{quality.n_scored_tokens} scored tokens in {quality.n_windows} windows" if quality else "no windows"
    lines += [
        "",
        f"- **Quality**: perplexity on `{report.text_path}` ({report.text_chars} characters) as llama.cpp's "
        f"`llama-perplexity`: windows of {options.ppl_ctx} tokens, second half of each scored ({scored}); "
        "± is each model's standard error as llama.cpp prints it, not the error of a difference between models "
        "(they read the same tokens, so compare them by KLD). "
        f"KLD is KL(base ‖ model) per token against **{report.base}** on the same tokens (mean, 99th percentile); "
        "*same top* is how often both put the same token first.",
        f"- **Speed**: {options.repeats} repeats per model, interleaved in alternating order, each in a fresh "
        f"process; median (min–max). Prompt: {options.n_prompt} tokens in one batch; generation: "
        f"{options.n_generate} greedy tokens after it; {options.n_threads} threads. Load time is with a warm "
        "page cache after the first repeat.",
        f"- **Memory bandwidth** (numpy streaming, {bandwidth.threads} threads, {bandwidth.array_bytes / MB:.0f} MB "
        f"arrays, best of 5): read {bandwidth.read_gb_per_s:.1f} GB/s, copy {bandwidth.copy_gb_per_s:.1f} GB/s. "
        "*Gen × size / bandwidth* = file bytes × generation tok/s ÷ read bandwidth: how close decoding runs to "
        "reading every weight once per token at full memory speed.",
        "- **Peak RSS**: the largest resident set of the process that ran the speed measurement "
        f"(Python + llama.cpp + model; about {_baseline_mb(report):.0f} MB of it is the interpreter before loading).",
        *task_lines(report),
        "",
        "## Command",
        "",
        "```",
        report.command or "orchestrator bench",
        "```",
        "",
        "## Machine",
        "",
        f"- CPU: {machine.get('cpu')} — {machine.get('physical_cores')} physical / {machine.get('logical_cores')} logical cores",
        f"- RAM: {machine.get('ram_bytes', 0) / 2**30:.1f} GiB",
        f"- OS: {machine.get('os')}",
        f"- Python {machine.get('python')}, llama-cpp-python {machine.get('llama_cpp_python')}, numpy {machine.get('numpy')}",
        f"- Run: {report.started_utc}, {report.seconds:.0f} s; load average at the end: {_load(machine)}",
        "",
    ]
    return "\n".join(lines)


def _load(machine: dict[str, Any]) -> str:
    load = machine.get("load_average_1m")
    if load is None:
        return "unknown"
    cores = machine.get("logical_cores") or 1
    return f"{load:.1f} ({'busy: other processes competed for the CPU' if load > cores else 'quiet'})"


def _baseline_mb(report: Any) -> float:
    values = [model.rss_before_load_bytes for model in report.models if model.rss_before_load_bytes]
    return min(values) / MB if values else 0.0


# --------------------------------------------------------------------------- plot


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of points not dominated when both coordinates are minimised, ordered by x."""
    order = sorted(range(len(points)), key=lambda index: (points[index][0], points[index][1]))
    front, best_y = [], float("inf")
    for index in order:
        if points[index][1] < best_y:
            front.append(index)
            best_y = points[index][1]
    return front


def plot_tradeoff(report: Any, path: Path) -> Path:
    """tradeoff.png: size vs perplexity (marker area = generation speed) and speed vs KLD, Pareto fronts marked."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    models = [model for model in report.models if model.quality and model.generation_tokens_per_second]
    prefix, labels = short_labels([model.name for model in models])
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5.6), dpi=100)
    if models:
        _size_panel(left, models, labels)
        _speed_panel(right, models, labels, short_labels([report.base], prefix)[1][0])
    figure.suptitle(
        f"{prefix.rstrip('.-_ ') + ': ' if prefix else ''}{len(models)} models on {report.machine.get('cpu', 'this CPU')}, "
        f"{report.options.n_threads} thread{'s' if report.options.n_threads != 1 else ''}; "
        f"quality on {Path(report.text_path).name or 'the text'}",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return Path(path)


def short_labels(names: list[str], prefix: str | None = None) -> tuple[str, list[str]]:
    """Drop the prefix all names share (up to a '.', '-' or '_'), so points read 'F16', 'Q8_0', ..."""
    if prefix is None:
        prefix = os.path.commonprefix(names) if len(names) > 1 else ""
        cut = max(prefix.rfind(mark) for mark in ".-_")
        prefix = prefix[: cut + 1] if cut >= 0 else ""
    return prefix, [
        name[len(prefix) :] if prefix and name.startswith(prefix) and name != prefix else name for name in names
    ]


def _marker_areas(models: list[Any]) -> list[float]:
    speeds = [model.generation_tokens_per_second.median for model in models]
    top = max(speeds) or 1.0
    return [60 + 900 * speed / top for speed in speeds]


# Labels go outwards vertically (points in the upper half of the cloud get labels above, the lower half
# below) and inwards horizontally, with a leader line; heights alternate along x so neighbours do not collide.
_LABEL_HEIGHTS = (24, 42)


def _label_points(axis, xs: list[float], ys: list[float], texts: list[str]) -> None:
    middle_x = (min(xs) + max(xs)) / 2
    by_y = sorted(range(len(ys)), key=lambda i: ys[i])
    upper = set(by_y[len(by_y) // 2 :]) if len(ys) > 1 else set(by_y)
    for rank, index in enumerate(sorted(range(len(xs)), key=lambda i: (xs[i], ys[i]))):
        height = _LABEL_HEIGHTS[rank % len(_LABEL_HEIGHTS)]
        dy = height if index in upper else -height
        on_right = len(xs) > 1 and xs[index] > middle_x
        axis.annotate(
            texts[index],
            (xs[index], ys[index]),
            xytext=(-14 if on_right else 14, dy),
            textcoords="offset points",
            fontsize=9,
            ha="right" if on_right else "left",
            va="center",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.85, "linewidth": 0.5},
            arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.7},
        )


def _rate(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _draw_front(axis, xs: list[float], ys: list[float], front: list[int]) -> None:
    axis.plot(
        [xs[i] for i in front],
        [ys[i] for i in front],
        "--",
        color="tab:red",
        linewidth=1.2,
        label="Pareto front (no other model is better on both axes)",
        zorder=1,
    )
    axis.scatter(
        [xs[i] for i in front],
        [ys[i] for i in front],
        s=30,
        facecolors="none",
        edgecolors="tab:red",
        linewidths=1.5,
        zorder=3,
    )


def _size_panel(axis, models: list[Any], labels: list[str]) -> None:
    sizes = [model.footprint.size_bytes / MB for model in models]
    ppls = [model.quality.perplexity for model in models]
    # No per-model error bars: all models read the same tokens, so their errors are strongly correlated and
    # bars that overlap would wrongly suggest the differences are noise (KLD on the right is the paired measure).
    axis.scatter(sizes, ppls, s=_marker_areas(models), alpha=0.55, color="tab:blue", edgecolors="black", zorder=2)
    _draw_front(axis, sizes, ppls, pareto_front(list(zip(sizes, ppls))))
    speeds = [model.generation_tokens_per_second.median for model in models]
    _label_points(axis, sizes, ppls, [f"{label}: {_rate(speed)} tok/s" for label, speed in zip(labels, speeds)])
    axis.set_xlabel("File size (MB)")
    axis.set_ylabel("Perplexity (lower is better)")
    axis.set_title("Size vs quality: bottom-left is better\nmarker area ∝ generation speed (tok/s)", fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    axis.margins(x=0.3, y=0.3)


def _speed_panel(axis, models: list[Any], labels: list[str], base_label: str) -> None:
    speeds = [model.generation_tokens_per_second.median for model in models]
    use_kld = all(model.quality.kld_mean is not None for model in models)
    values = [model.quality.kld_mean if use_kld else model.quality.perplexity for model in models]
    low = [model.generation_tokens_per_second.median - model.generation_tokens_per_second.low for model in models]
    high = [model.generation_tokens_per_second.high - model.generation_tokens_per_second.median for model in models]
    axis.errorbar(speeds, values, xerr=[low, high], fmt="none", ecolor="grey", elinewidth=0.8, capsize=3, zorder=1)
    axis.scatter(speeds, values, s=120, alpha=0.6, color="tab:green", edgecolors="black", zorder=2)
    # Faster is better, so minimise -speed.
    _draw_front(axis, speeds, values, pareto_front([(-speed, value) for speed, value in zip(speeds, values)]))
    sizes = [model.footprint.size_bytes / MB for model in models]
    _label_points(axis, speeds, values, [f"{label}: {size:.0f} MB" for label, size in zip(labels, sizes)])
    axis.set_xlabel("Generation speed, tokens/s (median; bars: min–max of repeats)")
    if use_kld:
        axis.set_yscale("symlog", linthresh=1e-3)
        axis.set_ylabel("Mean KL divergence from base, nats (lower is better)")
        title = f"Speed vs quality: bottom-right is better\nKLD against {base_label} on the same tokens"
    else:
        axis.set_ylabel("Perplexity (lower is better)")
        title = "Speed vs quality: bottom-right is better"
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    axis.margins(x=0.3, y=0.3)
