"""Search over an index: query encoding, exact top-k kernels, explanations."""

from lexir.search.searcher import Hit, RankedNums, Searcher, SearchResult

__all__ = ["Hit", "RankedNums", "SearchResult", "Searcher"]
