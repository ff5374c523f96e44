"""A fast stand-in embedder whose cosine still means something: words hashed into buckets."""

import hashlib
import re

import numpy as np
from langchain_core.embeddings import Embeddings


class WordHashEmbeddings(Embeddings):
    """Bag of words hashed into `dim` buckets, L2-normalised: texts sharing words have a high cosine."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def _embed(self, text: str) -> list[float]:
        vector = np.zeros(self.dim)
        for word in re.findall(r"\w+", text.lower()):
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = np.linalg.norm(vector)
        return (vector / norm if norm else vector).tolist()

    def embed_documents(self, texts):
        return [self._embed(t) for t in texts]

    def embed_query(self, text):
        return self._embed(text)
