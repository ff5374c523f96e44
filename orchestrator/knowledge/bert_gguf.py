"""Convert a sentence-transformers BERT checkpoint (safetensors + WordPiece vocab) into a GGUF.

The output is what llama.cpp runs as a BERT embedding model: arch "bert", non-causal attention,
the pooling type of the sentence-transformers Pooling module, and the WordPiece vocabulary.
Metadata, vocabulary encoding and tensor types follow the `BertModel` class of llama.cpp's
`convert_hf_to_gguf.py`; that script needs torch, so this module reimplements the BERT path with
numpy (via the `safetensors` package) and gguf-py's `GGUFWriter`, `TensorNameMap` and `SpecialVocab`.
L2 normalisation is not a GGUF property: the embedder normalises each pooled vector.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import PullError
from orchestrator.progress import Progress

if TYPE_CHECKING:
    import gguf
    import numpy as np


REQUIRED_FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json")
OUT_TYPES = ("f16", "f32")
# Weights llama.cpp's BERT graph never reads: HF's NSP/MLM heads, the [CLS] pooler, and the
# position_ids buffer (see `BertModel.filter_tensors` in convert_hf_to_gguf.py).
SKIPPED_TENSOR_PREFIXES = ("embeddings.position_ids", "pooler.", "cls.")
# The WPM tokenizer in llama.cpp (llama-vocab.cpp, llm_tokenizer_wpm) marks a word start with
# U+2581 instead of marking continuations with "##", as the converter's `phantom()` rewrites them.
WORD_START = "\u2581"
CONTINUATION = "##"


class BertConversionError(PullError):
    """The source folder is incomplete or holds a model this converter does not support."""


@dataclass(frozen=True)
class BertConfig:
    """The hyperparameters llama.cpp's BERT loader reads, from HF config.json."""

    n_vocab: int
    n_ctx: int
    n_embd: int
    n_ff: int
    n_layer: int
    n_head: int
    layer_norm_eps: float
    n_token_types: int


def check_source_files(source_dir: Path) -> None:
    """Raise if a file the conversion needs is missing."""
    if not source_dir.is_dir():
        raise BertConversionError(f"{source_dir} is not a folder; pass the folder that holds model.safetensors.")
    missing = [name for name in REQUIRED_FILES if not (source_dir / name).is_file()]
    if missing:
        raise BertConversionError(
            f"{source_dir} lacks {', '.join(missing)}: a BERT conversion needs {', '.join(REQUIRED_FILES)} "
            "(the layout of a sentence-transformers model folder)."
        )


def _read_json(path: Path) -> Any:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BertConversionError(f"{path} is not readable JSON ({exc}).") from None
    if not isinstance(value, (dict, list)):
        raise BertConversionError(f"{path} does not hold a JSON object or list.")
    return value


def read_bert_config(source_dir: Path) -> BertConfig:
    """Read config.json and refuse variants llama.cpp's plain BERT graph would run wrongly."""
    path = source_dir / "config.json"
    hp = _read_json(path)
    model_type = hp.get("model_type")
    if model_type != "bert":
        raise BertConversionError(
            f"{path} describes a {model_type!r} model; only plain BERT (model_type 'bert') can be converted."
        )
    unsupported = {
        "position_embedding_type": (hp.get("position_embedding_type", "absolute"), "absolute"),
        "hidden_act": (hp.get("hidden_act", "gelu"), "gelu"),
        "is_decoder": (hp.get("is_decoder", False), False),
    }
    for key, (value, wanted) in unsupported.items():
        if value != wanted:
            raise BertConversionError(f"{path} sets {key}={value!r}; llama.cpp's BERT graph supports only {wanted!r}.")
    try:
        config = BertConfig(
            n_vocab=int(hp["vocab_size"]),
            n_ctx=int(hp["max_position_embeddings"]),
            n_embd=int(hp["hidden_size"]),
            n_ff=int(hp["intermediate_size"]),
            n_layer=int(hp["num_hidden_layers"]),
            n_head=int(hp["num_attention_heads"]),
            layer_norm_eps=float(hp.get("layer_norm_eps", 1e-12)),  # BertConfig's default
            n_token_types=int(hp.get("type_vocab_size", 2)),
        )
    except KeyError as exc:
        raise BertConversionError(f"{path} lacks the BERT hyperparameter {exc.args[0]!r}.") from None
    except (TypeError, ValueError) as exc:
        raise BertConversionError(f"{path} holds a non-numeric hyperparameter ({exc}).") from None
    if config.n_head <= 0 or config.n_embd % config.n_head:
        raise BertConversionError(f"{path}: hidden_size {config.n_embd} is not divisible by {config.n_head} heads.")
    return config


def read_pooling_type(source_dir: Path) -> gguf.PoolingType:
    """The pooling of the sentence-transformers Pooling module (mean when there is no modules.json)."""
    import gguf

    modules_file = source_dir / "modules.json"
    if not modules_file.is_file():
        return gguf.PoolingType.MEAN  # sentence-transformers' default for a bare HF model
    modules = _read_json(modules_file)
    pooling_dirs = [m.get("path", "") for m in modules if m.get("type") == "sentence_transformers.models.Pooling"]
    if not pooling_dirs:
        return gguf.PoolingType.MEAN
    pooling_file = source_dir / pooling_dirs[0] / "config.json"
    if not pooling_file.is_file():
        raise BertConversionError(f"modules.json names a Pooling module but {pooling_file} is missing.")
    pooling = _read_json(pooling_file)
    # Same precedence as `_try_set_pooling_type` in convert_hf_to_gguf.py.
    for mode, pooling_type in (
        ("pooling_mode_mean_tokens", gguf.PoolingType.MEAN),
        ("pooling_mode_cls_token", gguf.PoolingType.CLS),
        ("pooling_mode_lasttoken", gguf.PoolingType.LAST),
    ):
        if pooling.get(mode):
            return pooling_type
    raise BertConversionError(
        f"{pooling_file} asks for a pooling llama.cpp lacks (only mean, cls and lasttoken exist there)."
    )


def check_tokenizer_is_uncased_wordpiece(source_dir: Path) -> None:
    """llama.cpp's WPM tokenizer always lowercases and strips accents, so only uncased WordPiece fits."""
    path = source_dir / "tokenizer.json"
    tokenizer = _read_json(path)
    model = tokenizer.get("model") or {}
    if model.get("type") != "WordPiece" or model.get("continuing_subword_prefix", CONTINUATION) != CONTINUATION:
        raise BertConversionError(f"{path} is not a WordPiece tokenizer with '##' continuations.")
    normalizer = tokenizer.get("normalizer") or {}
    if normalizer.get("type") == "BertNormalizer":
        if normalizer.get("lowercase") is False or normalizer.get("strip_accents") is False:
            raise BertConversionError(
                f"{path} keeps case or accents, but llama.cpp's BERT tokenizer lowercases and strips "
                "accents: the GGUF would tokenize differently from the original. Use an uncased model."
            )


def read_wordpiece_vocab(source_dir: Path, n_vocab: int) -> tuple[list[str], list[int]]:
    """Tokens in llama.cpp's word-start form and their token types, in id order.

    vocab.txt is read like HF's `load_vocab` (one token per line, id = line number). Added tokens
    marked special in tokenizer.json become CONTROL and stay verbatim; other added tokens are
    USER_DEFINED; "##x" becomes "x" and every other token gets the U+2581 word-start prefix.
    """
    import gguf

    path = source_dir / "vocab.txt"
    text = path.read_text(encoding="utf-8")
    words = text.split("\n")
    if words and words[-1] == "":
        words.pop()  # the trailing newline, not an empty token
    if len(words) != n_vocab:
        raise BertConversionError(f"{path} has {len(words)} tokens but config.json says vocab_size={n_vocab}.")
    added_tokens = _read_json(source_dir / "tokenizer.json").get("added_tokens", [])
    added = {entry["id"]: bool(entry.get("special")) for entry in added_tokens}
    tokens: list[str] = []
    types: list[int] = []
    for token_id, word in enumerate(words):
        if token_id in added:
            token_type = gguf.TokenType.CONTROL if added[token_id] else gguf.TokenType.USER_DEFINED
        else:
            token_type = gguf.TokenType.NORMAL
        tokens.append(to_word_start_form(word, token_type))
        types.append(int(token_type))
    return tokens, types


def to_word_start_form(word: str, token_type: int) -> str:
    """Rewrite one WordPiece token the way convert_hf_to_gguf.py's `phantom()` does."""
    import gguf

    if token_type == gguf.TokenType.CONTROL:
        return word
    if word.startswith(CONTINUATION):
        return word[len(CONTINUATION) :]
    return WORD_START + word


def read_model_name(source_dir: Path) -> str:
    """The model card's title ("# all-MiniLM-L6-v2"), else the folder name."""
    card = source_dir / "README.md"
    if card.is_file():
        for line in card.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return source_dir.name


def _write_metadata(writer: gguf.GGUFWriter, source_dir: Path, config: BertConfig, out_type: str) -> None:
    """Every key llama.cpp's BERT loader reads, as convert_hf_to_gguf.py writes them."""
    import gguf

    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(read_model_name(source_dir))
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if out_type == "f16" else gguf.LlamaFileType.ALL_F32)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_context_length(config.n_ctx)
    writer.add_embedding_length(config.n_embd)
    writer.add_feed_forward_length(config.n_ff)
    writer.add_block_count(config.n_layer)
    writer.add_head_count(config.n_head)
    writer.add_layer_norm_eps(config.layer_norm_eps)
    writer.add_causal_attention(False)
    writer.add_pooling_type(read_pooling_type(source_dir))

    tokens, token_types = read_wordpiece_vocab(source_dir, config.n_vocab)
    writer.add_tokenizer_model("bert")
    # The converter names the pre-tokenizer by hashing a test string's tokens; this vocabulary's
    # hash (0876d13b...) is the one listed for "bert-bge" (uncased BERT WordPiece).
    writer.add_tokenizer_pre("bert-bge")
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_type_count(config.n_token_types)
    # SpecialVocab reads tokenizer.json: the [CLS]/[SEP]/[UNK]/[PAD]/[MASK] ids, and add_bos/add_eos
    # from its "[CLS] $A [SEP]" post-processor, exactly as the converter stores them.
    special = gguf.SpecialVocab(source_dir, n_vocab=len(tokens))
    for role in ("cls", "sep", "unk", "pad"):
        if role not in special.special_token_ids:
            raise BertConversionError(f"{source_dir / 'tokenizer.json'} does not define the [{role.upper()}] token.")
    # gguf-py has no cls_token_id key any more (llama.cpp reads [CLS] as BOS); drop what it cannot store.
    special.special_token_ids = {
        role: token_id
        for role, token_id in special.special_token_ids.items()
        if hasattr(writer, f"add_{role}_token_id")
    }
    special.add_to_gguf(writer, quiet=True)


def gguf_tensor_type(gguf_name: str, n_dims: int, out_type: str) -> gguf.GGMLQuantizationType:
    """F32 where llama.cpp expects it (1-D, norms, position and token-type embeddings), else out_type.

    Same rule as `ModelBase.prepare_tensors` in convert_hf_to_gguf.py.
    """
    import gguf

    f32_tensors = (gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.POS_EMBD], gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.TOKEN_TYPES])
    always_f32 = n_dims <= 1 or gguf_name.endswith("_norm.weight") or gguf_name.startswith(f32_tensors)
    if always_f32 or out_type == "f32":
        return gguf.GGMLQuantizationType.F32
    return gguf.GGMLQuantizationType.F16


def hf_to_gguf_name(name: str, tensor_map: gguf.TensorNameMap) -> str | None:
    """The GGUF name of an HF BERT tensor, or None for one llama.cpp does not use."""
    # Some checkpoints prefix "bert." and use TF-era LayerNorm names (see BertModel.filter_tensors).
    name = name.removeprefix("bert.")
    if name.endswith(".gamma"):
        name = name[: -len(".gamma")] + ".weight"
    elif name.endswith(".beta"):
        name = name[: -len(".beta")] + ".bias"
    if name.startswith(SKIPPED_TENSOR_PREFIXES):
        return None
    mapped = tensor_map.get_name(name, try_suffixes=(".weight", ".bias"))
    if mapped is None:
        raise BertConversionError(f"model.safetensors holds {name!r}, which has no place in llama.cpp's BERT graph.")
    return mapped


@dataclass(frozen=True)
class _TensorPlan:
    hf_name: str
    gguf_name: str
    shape: tuple[int, ...]
    dtype: np.dtype


def _plan_tensors(handle, config: BertConfig, out_type: str) -> list[_TensorPlan]:
    import gguf
    import numpy as np

    tensor_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, config.n_layer)
    plans = []
    for hf_name in handle.keys():
        gguf_name = hf_to_gguf_name(hf_name, tensor_map)
        if gguf_name is None:
            continue
        shape = tuple(handle.get_slice(hf_name).get_shape())
        qtype = gguf_tensor_type(gguf_name, len(shape), out_type)
        dtype = np.dtype(np.float32 if qtype == gguf.GGMLQuantizationType.F32 else np.float16)
        plans.append(_TensorPlan(hf_name, gguf_name, shape, dtype))
    _check_shapes(plans, config)
    return plans


def _check_shapes(plans: list[_TensorPlan], config: BertConfig) -> None:
    """Catch a config.json that does not describe these weights before llama.cpp does."""
    by_name = {plan.gguf_name: plan.shape for plan in plans}
    expected = {
        "token_embd.weight": (config.n_vocab, config.n_embd),
        "position_embd.weight": (config.n_ctx, config.n_embd),
        "token_types.weight": (config.n_token_types, config.n_embd),
        f"blk.{config.n_layer - 1}.ffn_up.weight": (config.n_ff, config.n_embd),
    }
    for name, shape in expected.items():
        if by_name.get(name) != shape:
            raise BertConversionError(
                f"model.safetensors has {name} of shape {by_name.get(name)}, but config.json implies {shape}."
            )


def convert_bert_to_gguf(
    source_dir: Path,
    target: Path,
    progress: Progress | None = None,
    out_type: str = "f16",
) -> Path:
    """Write a llama.cpp BERT embedding GGUF for the sentence-transformers model in `source_dir`.

    progress(stage, done, total) is called once per tensor. Returns `target`.
    """
    import gguf
    from safetensors import SafetensorError, safe_open

    source_dir, target = Path(source_dir), Path(target)
    if out_type not in OUT_TYPES:
        raise BertConversionError(f"out_type {out_type!r} is not supported; use one of {', '.join(OUT_TYPES)}.")
    check_source_files(source_dir)
    config = read_bert_config(source_dir)
    check_tokenizer_is_uncased_wordpiece(source_dir)
    weights = source_dir / "model.safetensors"
    writer = gguf.GGUFWriter(target, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    opened = False  # only a file this call created may be deleted on failure
    try:
        with safe_open(str(weights), framework="numpy") as handle:
            plans = _plan_tensors(handle, config, out_type)
            _write_metadata(writer, source_dir, config, out_type)
            for plan in plans:
                writer.add_tensor_info(plan.gguf_name, plan.shape, plan.dtype, _nbytes(plan))
            # Header, metadata and tensor index first, then one tensor at a time: memory stays at
            # one tensor and progress can be reported as each is written.
            opened = True
            writer.write_header_to_file()
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            stage = f"Converting {weights.name} to GGUF ({out_type.upper()})"
            for done, plan in enumerate(plans, start=1):
                writer.write_tensor_data(handle.get_tensor(plan.hf_name).astype(plan.dtype, copy=False))
                if progress:
                    progress(stage, done, len(plans))
    except BaseException as exc:
        writer.close()
        if opened:
            target.unlink(missing_ok=True)
        if isinstance(exc, SafetensorError):
            raise BertConversionError(f"{weights} is not a readable safetensors file ({exc}).") from None
        raise
    writer.close()
    return target


def _nbytes(plan: _TensorPlan) -> int:
    count = 1
    for dim in plan.shape:
        count *= dim
    return count * plan.dtype.itemsize
