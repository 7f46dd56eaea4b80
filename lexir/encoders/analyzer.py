"""Word analyzer for BM25: lowercase, word tokens, English stopwords, Porter stemming.

It follows Lucene's EnglishAnalyzer (what Pyserini's BM25 baselines use) closely
enough for the same effectiveness: Unicode word tokens, the English possessive
's removed, Lucene's 33 default English stopwords, and the Porter stemmer
(PyStemmer's `porter`).
"""

from __future__ import annotations

import re
from functools import cached_property

LUCENE_ENGLISH_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_POSSESSIVE = re.compile(r"['’]s$")


class EnglishAnalyzer:
    """Turns text into a list of stemmed terms."""

    def __init__(self, stopwords: frozenset[str] = LUCENE_ENGLISH_STOPWORDS, stemmer: str = "porter") -> None:
        self.stopwords = stopwords
        self.stemmer_name = stemmer

    def __getstate__(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if key != "_stemmer"}

    @cached_property
    def _stemmer(self):  # type: ignore[no-untyped-def]
        import Stemmer

        return Stemmer.Stemmer(self.stemmer_name)

    def __call__(self, text: str) -> list[str]:
        words = [_POSSESSIVE.sub("", token) for token in _TOKEN.findall(text.lower())]
        return self._stemmer.stemWords([word for word in words if word not in self.stopwords])

    @property
    def config(self) -> dict[str, object]:
        return {"stopwords": "lucene-english" if self.stopwords == LUCENE_ENGLISH_STOPWORDS else "custom",
                "stemmer": self.stemmer_name}
