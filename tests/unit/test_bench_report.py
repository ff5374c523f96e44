"""`orchestrator bench` end to end on two tiny GGUFs: report files, table and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from orchestrator.bench.report import pareto_front
from orchestrator.cli import bench as bench_cli
from tests.helpers.tiny_llama import write_tiny_llama

TEXT = "the market by the old river was new to her, and they would see it again in time. " * 60


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    bench_cli.register(app)

    @app.callback()
    def _root() -> None:  # keeps `bench` a subcommand, as in the real app
        pass

    return app


@pytest.fixture
def tiny_models(tmp_path) -> tuple[Path, Path]:
    return write_tiny_llama(tmp_path / "a.gguf", seed=0), write_tiny_llama(tmp_path / "b.gguf", seed=1, n_layers=3)


def test_bench_writes_table_json_and_plot(cli, tiny_models, tmp_path):
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT)
    out = tmp_path / "report"
    args = [
        "bench",
        str(tiny_models[0]),
        str(tiny_models[1]),
        "--text",
        str(text_file),
        "--output",
        str(out),
        "--repeats",
        "1",
        "--ctx",
        "64",
        "--chunks",
        "2",
        "--threads",
        "1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output

    data = json.loads((out / "report.json").read_text())
    assert data["base"] == "a"
    names = [model["name"] for model in data["models"]]
    assert names == ["a", "b"]
    a, b = data["models"]
    assert a["is_base"] and a["quality"]["kld_mean"] == 0.0 and a["quality"]["same_top_fraction"] == 1.0
    assert b["quality"]["kld_mean"] > 0
    assert b["generation_tokens_per_second"]["median"] > 0
    assert len(b["generation_tokens_per_second"]["samples"]) == 1
    assert b["footprint"]["quant_mix"] == {"F32": 30}
    assert data["bandwidth"]["read_gb_per_s"] > 0
    assert data["machine"]["llama_cpp_python"]

    markdown = (out / "report.md").read_text()
    assert "| a (base) | F32 |" in markdown and "| b | F32 |" in markdown
    assert "tradeoff.png" in markdown and "- CPU: " in markdown

    from PIL import Image

    with Image.open(out / "tradeoff.png") as image:
        assert image.format == "PNG"
        assert image.size[0] > 800 and image.size[1] > 400


def test_bench_with_eval_scores_each_model_through_the_app(cli, tiny_models, tmp_path, monkeypatch):
    # Math questions: the app answers them with SymPy, so the tiny random models still score, and no
    # embedding model is needed. The wiring under test: one eval run per model, its summary in the report.
    monkeypatch.setenv("ORCH_DATA_DIR", str(tmp_path / "data"))
    text_file = tmp_path / "text.txt"
    text_file.write_text(TEXT)
    questions = tmp_path / "q.jsonl"
    rows = [("m1", "What is 822 times 639?", "525258"), ("m2", "What is 40366 / 439?", "40366/439")]
    questions.write_text(
        "".join(json.dumps({"id": i, "kind": "math", "question": q, "answers": [a]}) + "\n" for i, q, a in rows)
    )
    out = tmp_path / "report"
    args = [
        "bench",
        str(tiny_models[0]),
        str(tiny_models[1]),
        "--text",
        str(text_file),
        "--output",
        str(out),
        "--repeats",
        "1",
        "--ctx",
        "64",
        "--chunks",
        "1",
        "--threads",
        "1",
        "--eval",
        str(questions),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output

    models = json.loads((out / "report.json").read_text())["models"]
    assert [(m["task"]["correct"], m["task"]["n"], m["task"]["kinds"]) for m in models] == [
        (2, 2, {"math": {"correct": 2, "n": 2}})
    ] * 2
    assert [m["task"]["report"] for m in models] == ["eval/1-a/report.md", "eval/2-b/report.md"]
    assert all((out / m["task"]["report"]).is_file() for m in models)
    assert json.loads((out / "eval" / "2-b" / "run.json").read_text())["model"] == str(tiny_models[1])
    markdown = (out / "report.md").read_text()
    assert "## Task accuracy" in markdown and "| b | 2/2 | 2/2 (100%) | 100% | eval/2-b/report.md |" in markdown


def test_a_bad_eval_file_fails_before_the_measurements(cli, tiny_models, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text("not json\n")
    result = CliRunner().invoke(
        cli, ["bench", str(tiny_models[0]), "--eval", str(questions), "--output", str(tmp_path / "r")]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert not (tmp_path / "r" / "report.json").exists()


def test_corpus_without_eval_is_refused(cli, tiny_models, tmp_path):
    result = CliRunner().invoke(
        cli, ["bench", str(tiny_models[0]), "--corpus", str(tmp_path), "--output", str(tmp_path / "r")]
    )
    assert result.exit_code == 1 and "--corpus goes with --eval" in result.output


def test_unknown_model_gets_a_clear_message(cli, tmp_path):
    result = CliRunner().invoke(cli, ["bench", "no-such-model", "--output", str(tmp_path / "r")])
    assert result.exit_code == 1
    assert "No model named 'no-such-model'" in " ".join(result.output.split())


def test_empty_text_file_gets_a_clear_message(cli, tiny_models, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    result = CliRunner().invoke(cli, ["bench", str(tiny_models[0]), "--text", str(empty)])
    assert result.exit_code == 1
    assert "is empty; pass --text" in " ".join(result.output.split())


def test_text_shorter_than_a_window_gets_a_clear_message(cli, tiny_models, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("the old bridge")
    result = CliRunner().invoke(cli, ["bench", str(tiny_models[0]), "--text", str(short), "--ctx", "64"])
    assert result.exit_code == 1
    assert "fewer than one window of 64: give a longer --text" in " ".join(result.output.split())


def test_pareto_front_keeps_only_undominated_points():
    points = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0)]
    assert pareto_front(points) == [0, 1, 3]


def test_plot_labels_drop_the_shared_name_prefix():
    from orchestrator.bench.report import short_labels

    assert short_labels(["smollm2.F16", "smollm2.Q8_0"]) == ("smollm2.", ["F16", "Q8_0"])
    assert short_labels(["a", "b"]) == ("", ["a", "b"])
    assert short_labels(["only-model"]) == ("", ["only-model"])


def test_public_api_is_pinned():
    import orchestrator.bench

    assert orchestrator.bench.__all__ == [
        "BenchOptions",
        "BenchReport",
        "EvalTask",
        "GenerationStats",
        "GenerationTimer",
        "ModelFootprint",
        "ModelResult",
        "default_text_path",
        "format_quant_mix",
        "model_footprint",
        "read_text_file",
        "run_bench",
    ]


def test_importing_the_bench_command_loads_no_heavy_library():
    import subprocess
    import sys

    code = "import sys, orchestrator.cli.bench; print(sorted({'numpy', 'llama_cpp', 'matplotlib'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_default_text_is_shipped_and_long_enough_for_the_default_windows():
    from orchestrator.bench import default_text_path, read_text_file

    text = read_text_file(default_text_path())
    assert len(text.split()) > 8 * 512  # words: comfortably more than 8 windows of 512 tokens
