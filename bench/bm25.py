"""Plain Okapi BM25 over a list of texts, the baseline ``bench.recall`` compares recall with.

Texts are split into words as recall's full-text side sees them (``cloudbrain.memory.text``:
lower case, letters and digits, stop words and single letters dropped), and each word cut to
its stem (``cloudbrain.memory.text.stem``), so "backups" meets "backup". A text's score for a
query is, over the query's distinct words ``t``::

    idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / average_length))

with ``tf`` the times ``t`` occurs in the text, ``length`` the text's number of words and
``idf(t) = ln(1 + (N - n + 0.5) / (n + 0.5))`` (``N`` texts, ``n`` of them with ``t``: the
form Lucene uses, never negative). ``k1`` = 1.2 and ``b`` = 0.75 unless told otherwise. Nothing
else counts: no importance, dates or vectors.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from cloudbrain.memory.text import stem, words

K1 = 1.2
B = 0.75


def tokens(text: str) -> list[str]:
    """The stemmed topic words of ``text``, in order."""
    return [stem(word) for word in words(text)]


class BM25:
    """An index of ``texts``; :meth:`top` ranks them for a query."""

    def __init__(self, texts: Sequence[str], k1: float = K1, b: float = B) -> None:
        self.k1, self.b = k1, b
        self.count = len(texts)
        self.postings: dict[str, list[tuple[int, int]]] = {}  # word: (text index, tf)
        lengths = []
        for i, text in enumerate(texts):
            found = tokens(text)
            lengths.append(len(found))
            for word, tf in Counter(found).items():
                self.postings.setdefault(word, []).append((i, tf))
        self.lengths = np.array(lengths, dtype=np.float64)
        average = float(self.lengths.mean()) if self.count else 0.0
        # The length part of each text's denominator, the same for every word.
        self.norm = (
            k1 * (1 - b + b * self.lengths / average) if average else np.full(self.count, k1)
        )

    def idf(self, word: str) -> float:
        n = len(self.postings.get(word, ()))
        return math.log(1 + (self.count - n + 0.5) / (n + 0.5))

    def scores(self, query: str) -> np.ndarray:
        """Every text's score for ``query`` (0 for a text with none of its words)."""
        total = np.zeros(self.count, dtype=np.float64)
        for word in dict.fromkeys(tokens(query)):
            posting = self.postings.get(word)
            if not posting:
                continue
            where = np.fromiter((i for i, _ in posting), dtype=np.int64, count=len(posting))
            tf = np.fromiter((f for _, f in posting), dtype=np.float64, count=len(posting))
            total[where] += self.idf(word) * tf * (self.k1 + 1) / (tf + self.norm[where])
        return total

    def top(self, query: str, limit: int) -> list[int]:
        """The indices of the ``limit`` best texts for ``query``, best first (ties: the earlier
        text first); a text sharing no word with the query is never among them."""
        scores = self.scores(query)
        order = np.argsort(-scores, kind="stable")[:limit]
        return [int(i) for i in order if scores[i] > 0]
