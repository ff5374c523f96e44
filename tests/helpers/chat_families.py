"""Tiny random-weight GGUFs that carry a real model family's chat template and special tokens.

Each file is a one-layer Llama-architecture model (a few hundred KB) whose blocks add nothing to
the residual stream, so the next token depends only on the current one: any token is followed by
"▁Paris", then "▁is", "▁lovely", and then the family's end-of-turn token. A chain run through the
family's template must therefore answer exactly "Paris is lovely" and stop; if llama.cpp did not
stop at that token the answer would repeat, and if the token leaked its text would show.

The templates are the families' own (tests/fixtures/chat_templates/SOURCES.md says where each
comes from). The vocabulary is a small SentencePiece-style one, so token ids are not the real
ones: the special tokens keep their real text and type (control), and BOS, EOS and the
end-of-turn token are the family's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.helpers.tiny_llama import tiny_vocab

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "chat_templates"
ANSWER_PIECES = ("\u2581Paris", "\u2581is", "\u2581lovely")
ANSWER = "Paris is lovely"
_NORMAL, _CONTROL = 1, 3


@dataclass(frozen=True)
class ChatFamily:
    """What a family's GGUF says about chat: template, special tokens, BOS/EOS and end of turn."""

    name: str
    template_file: str
    special_tokens: tuple[str, ...]  # control tokens, in the family's own id order
    bos: str
    eos: str
    end_of_turn: str  # the token an assistant turn ends with (may differ from EOS)
    add_bos: bool

    @property
    def template(self) -> str:
        return (TEMPLATES_DIR / self.template_file).read_text(encoding="utf-8")


FAMILIES = {
    family.name: family
    for family in (
        # meta-llama/Llama-3.2-1B-Instruct: BOS 128000, EOS <|eot_id|> 128009 (generation_config lists
        # 128001, 128008, 128009 as EOS; the GGUF's eos_token_id is 128009).
        ChatFamily(
            "llama-3.2",
            "llama-3.2.jinja",
            (
                "<|begin_of_text|>",
                "<|end_of_text|>",
                "<|start_header_id|>",
                "<|end_header_id|>",
                "<|eom_id|>",
                "<|eot_id|>",
                "<|python_tag|>",
            ),
            bos="<|begin_of_text|>",
            eos="<|eot_id|>",
            end_of_turn="<|eot_id|>",
            add_bos=True,
        ),
        # Qwen/Qwen2.5-1.5B-Instruct: BOS <|endoftext|> 151643 (not added), EOS <|im_end|> 151645.
        ChatFamily(
            "qwen2.5",
            "qwen2.5.jinja",
            ("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
            bos="<|endoftext|>",
            eos="<|im_end|>",
            end_of_turn="<|im_end|>",
            add_bos=False,
        ),
        # google/gemma-2-2b-it: <pad> 0, EOS <eos> 1, BOS <bos> 2, <start_of_turn> 106, <end_of_turn> 107;
        # a turn ends with <end_of_turn>, not EOS.
        ChatFamily(
            "gemma-2",
            "gemma-2.jinja",
            ("<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"),
            bos="<bos>",
            eos="<eos>",
            end_of_turn="<end_of_turn>",
            add_bos=True,
        ),
        # microsoft/Phi-3.5-mini-instruct: <s> 1, </s> 2, EOS <|endoftext|> 32000, <|assistant|> 32001,
        # <|system|> 32006, <|end|> 32007, <|user|> 32010; a turn ends with <|end|>, not EOS.
        ChatFamily(
            "phi-3.5",
            "phi-3.5.jinja",
            ("<s>", "</s>", "<|endoftext|>", "<|assistant|>", "<|system|>", "<|end|>", "<|user|>"),
            bos="<s>",
            eos="<|endoftext|>",
            end_of_turn="<|end|>",
            add_bos=False,
        ),
        # mistralai/Mistral-7B-Instruct-v0.2: BOS <s> 1, EOS </s> 2; [INST] is plain text in v0.2.
        ChatFamily(
            "mistral-v0.2",
            "mistral-v0.2.jinja",
            ("<s>", "</s>"),
            bos="<s>",
            eos="</s>",
            end_of_turn="</s>",
            add_bos=True,
        ),
    )
}


def family_vocab(family: ChatFamily, vocab_size: int = 512) -> tuple[list[str], list[float], list[int]]:
    """<unk>, the family's special tokens (control), then bytes and pieces, with the answer's pieces."""
    base, base_scores, base_types = tiny_vocab(vocab_size)
    # tiny_vocab starts with <unk>, <s>, </s>: keep <unk>, replace the other two by the family's tokens.
    pieces = [t for t in base[3:] if t not in ANSWER_PIECES]
    scores = base_scores[3 : 3 + len(pieces)]
    types = [t for t, token in zip(base_types[3:], base[3:]) if token not in ANSWER_PIECES]
    specials = [t for t in family.special_tokens if t != "<unk>"]
    tokens = ["<unk>", *specials, *ANSWER_PIECES, *pieces]
    scores = [0.0] * (1 + len(specials)) + [0.0] * len(ANSWER_PIECES) + scores
    types = [2] + [_CONTROL] * len(specials) + [_NORMAL] * len(ANSWER_PIECES) + types
    return tokens[:vocab_size], scores[:vocab_size], types[:vocab_size]


def write_family_gguf(
    path: Path, family: ChatFamily, vocab_size: int = 512, n_embd: int = 32, context_length: int = 2048
) -> Path:
    """Write the family's tiny GGUF (F32) to `path` and return `path`."""
    import gguf

    path = Path(path)
    tokens, scores, types = family_vocab(family, vocab_size)
    ids = {token: index for index, token in enumerate(tokens)}
    chain = [ids[piece] for piece in ANSWER_PIECES] + [ids[family.end_of_turn]]
    n_head, n_ff = 4, 64
    head_dim = n_embd // n_head

    # Residual stream = token embedding (blocks write zeros), so logits = output @ rmsnorm(embedding).
    # Dimension 0 marks "any other token" and leads to the first answer piece; dimension k marks
    # the k-th answer piece and leads to the next one.
    embedding = np.zeros((vocab_size, n_embd), dtype=np.float32)
    embedding[:, 0] = 1.0
    output = np.zeros((vocab_size, n_embd), dtype=np.float32)
    output[chain[0], 0] = 10.0
    for step, token in enumerate(chain[:-1], start=1):
        embedding[token] = 0.0
        embedding[token, step] = 1.0
        output[chain[step], step] = 10.0

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(f"tiny-{family.name}-template-test")
    writer.add_context_length(context_length)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(1)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(ids[family.bos])
    writer.add_eos_token_id(ids[family.eos])
    writer.add_add_bos_token(family.add_bos)
    writer.add_add_eos_token(False)
    writer.add_chat_template(family.template)

    zeros = lambda *shape: np.zeros(shape, dtype=np.float32)  # noqa: E731
    writer.add_tensor("token_embd.weight", embedding)
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
    for name in ("attn_q", "attn_k", "attn_v"):
        writer.add_tensor(f"blk.0.{name}.weight", zeros(n_head * head_dim, n_embd))
    writer.add_tensor("blk.0.attn_output.weight", zeros(n_embd, n_head * head_dim))
    writer.add_tensor("blk.0.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("blk.0.ffn_gate.weight", zeros(n_ff, n_embd))
    writer.add_tensor("blk.0.ffn_up.weight", zeros(n_ff, n_embd))
    writer.add_tensor("blk.0.ffn_down.weight", zeros(n_embd, n_ff))
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    writer.add_tensor("output.weight", output)

    path.parent.mkdir(parents=True, exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
