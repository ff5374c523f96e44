"""Write a tiny random-weights Llama GGUF that llama.cpp loads, for fast tests without downloads.

The tokenizer is self-contained: a SentencePiece-style ("llama") vocabulary with the three
special tokens, all 256 byte-fallback tokens (llama.cpp looks up "<0x0A>" for the newline token
and falls back to bytes for anything else) and a few hundred character and word pieces.
Weights are Gaussian, scaled by 1/sqrt(fan_in) so activations stay O(1) and the logits are
well separated: two correct implementations then agree on the argmax.
Tensor names, shapes and metadata keys follow gguf-py's constants (MODEL_ARCH.LLAMA), i.e. what
llama.cpp's convert_hf_to_gguf.py writes for a Llama checkpoint.
"""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np

# Token types from llama.cpp's llama_token_type enum (gguf.TokenType).
_NORMAL, _UNKNOWN, _CONTROL, _BYTE = 1, 2, 3, 6
_COMMON_WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there one all we their has been its can more will would "
    "who if what when some about so than into other time only new also any these may first"
).split()
_CHAT_TEMPLATE = (
    "{% for message in messages %}<s>{{ message['role'] }}\n{{ message['content'] }}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)


def tiny_vocab(vocab_size: int) -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of a small SentencePiece-style vocabulary."""
    if vocab_size < 3 + 256 + 1:
        raise ValueError("vocab_size must be at least 260 (3 special tokens, 256 bytes, 1 piece)")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{byte:02X}>" for byte in range(256)]
    types = [_UNKNOWN, _CONTROL, _CONTROL] + [_BYTE] * 256
    pieces = ["\u2581"] + list(string.ascii_lowercase + string.ascii_uppercase + string.digits)
    pieces += list(".,;:!?'\"()-")
    pieces += ["\u2581" + letter for letter in string.ascii_lowercase + string.ascii_uppercase]
    pieces += ["\u2581" + word for word in _COMMON_WORDS]
    pieces += [a + b for a in "etaoinshrdlu" for b in "etaoinshrdlu"]
    pieces = list(dict.fromkeys(pieces))[: vocab_size - len(tokens)]
    while len(tokens) + len(pieces) < vocab_size:  # pad with distinct, harmless pieces
        pieces.append(f"\u2581w{len(pieces)}")
    scores = [0.0] * len(tokens) + [-float(rank) for rank in range(len(pieces))]
    return tokens + pieces, scores, types + [_NORMAL] * len(pieces)


def write_tiny_llama(
    path: Path,
    n_layers: int = 2,
    n_embd: int = 64,
    n_ff: int = 128,
    n_head: int = 4,
    n_head_kv: int = 2,
    vocab_size: int = 512,
    seed: int = 0,
    split_max_tensors: int = 0,
) -> Path:
    """Write a random-weights Llama GGUF (F32 tensors) to `path` and return `path`.

    With split_max_tensors, gguf-py writes PATH-00001-of-0000N.gguf and so on (llama.cpp's split
    layout) instead, and the first part's path is returned.
    """
    import gguf

    path = Path(path)
    rng = np.random.default_rng(seed)
    head_dim = n_embd // n_head

    def linear(n_out: int, n_in: int) -> np.ndarray:
        # GGUF stores a Linear weight as numpy shape (out, in), like PyTorch's nn.Linear.
        return (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)

    def norm() -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(n_embd)).astype(np.float32)

    writer = gguf.GGUFWriter(path, "llama", split_max_tensors=split_max_tensors)
    writer.add_name("tiny-llama-test")
    writer.add_context_length(256)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layers)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    tokens, scores, types = tiny_vocab(vocab_size)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(_CHAT_TEMPLATE)

    writer.add_tensor("token_embd.weight", rng.standard_normal((vocab_size, n_embd)).astype(np.float32))
    for block in range(n_layers):
        prefix = f"blk.{block}."
        writer.add_tensor(prefix + "attn_norm.weight", norm())
        writer.add_tensor(prefix + "attn_q.weight", linear(n_head * head_dim, n_embd))
        writer.add_tensor(prefix + "attn_k.weight", linear(n_head_kv * head_dim, n_embd))
        writer.add_tensor(prefix + "attn_v.weight", linear(n_head_kv * head_dim, n_embd))
        writer.add_tensor(prefix + "attn_output.weight", linear(n_embd, n_head * head_dim))
        writer.add_tensor(prefix + "ffn_norm.weight", norm())
        writer.add_tensor(prefix + "ffn_gate.weight", linear(n_ff, n_embd))
        writer.add_tensor(prefix + "ffn_up.weight", linear(n_ff, n_embd))
        writer.add_tensor(prefix + "ffn_down.weight", linear(n_embd, n_ff))
    writer.add_tensor("output_norm.weight", norm())
    writer.add_tensor("output.weight", linear(vocab_size, n_embd))

    path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return writer.format_shard_names(path)[0] if split_max_tensors else path
