"""Hundreds of broken GGUF files: each must give ModelFileError, in a child process that survives them all."""

import pytest
from typer.testing import CliRunner

from tests.reliability.gguf_corpus import mutations, write_base_gguf
from tests.reliability.supervise import check_folder

# Inputs that once got past the validator, found by this corpus; gguf_file.check_layout now rejects
# them before gguf-py's reader runs.
FORMER_GAPS = {
    # The type of a string changed to ARRAY: its length bytes become an item type and a count of
    # ~7.8e18, and gguf-py's reader loops over the items (hang, growing memory).
    "general.architecture:string_as_array",
    # An array of arrays whose inner count is read from string bytes: the same runaway loop.
    "tokenizer.ggml.tokens:array_item_type_9",
    # Offset 2**64-1 wraps around in gguf-py's uint64 sum (start + offset).
    "token_embd.weight:data_offset_18446744073709551615",
    "output_norm.weight:data_offset_18446744073709551615",
    # Offset 1: inside the file but unaligned and overlapping the previous tensor.
    "token_embd.weight:data_offset_1",
    "output_norm.weight:data_offset_1",
}


def mutation_name(file_name: str) -> str:
    return file_name.split("_", 1)[1].removesuffix(".gguf")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken_gguf")
    base = write_base_gguf(tmp_path_factory.mktemp("base") / "base.gguf")
    for index, (name, data) in enumerate(mutations(base.read_bytes(), base)):
        (folder / f"{index:04d}_{name}.gguf").write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def verdicts(corpus):
    return check_folder(corpus, per_file_s=5.0)


def test_the_corpus_is_large_and_the_base_file_is_valid(corpus, tmp_path):
    from orchestrator.gguf_file import inspect_gguf

    assert len(list(corpus.glob("*.gguf"))) >= 200
    assert inspect_gguf(write_base_gguf(tmp_path / "base.gguf")).n_tensors == 2


def test_every_broken_file_gives_model_file_error(verdicts):
    wrong = {name: row for name, row in verdicts.items() if row["status"] != "ModelFileError"}
    assert not wrong, wrong
    messages = [row["message"] for row in verdicts.values() if row["status"] == "ModelFileError"]
    assert all(".gguf" in message for message in messages)  # each message names the file
    assert all(
        "orchestrator pull" in message or "version" in message or "general.architecture" in message
        for message in messages
    )  # and says what to do


def test_former_gaps_are_in_the_corpus_and_rejected(verdicts):
    gaps = {mutation_name(name): row["status"] for name, row in verdicts.items() if mutation_name(name) in FORMER_GAPS}
    assert set(gaps) == FORMER_GAPS
    assert set(gaps.values()) == {"ModelFileError"}, gaps


@pytest.mark.parametrize(
    "pick", ["truncated_at_99", "magic_47474d4c", "tensor_count_18446744073709551615", "general.name:value_type_255"]
)
def test_ask_with_a_broken_model_exits_1_with_a_clear_message(corpus, pick):
    from orchestrator.cli import app

    path = next(corpus.glob(f"*_{pick}.gguf"))
    result = CliRunner().invoke(app, ["ask", "--model", str(path), "What is 2+2?"])
    assert result.exit_code == 1 and "Error:" in result.output and path.name in result.output.replace("\n", "")
