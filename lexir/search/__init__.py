"""Search: `open_search(indexes, SearchOptions(...))` gives one Searcher for sparse, dense, hybrid and fused
search over live indexes; query encoding, exact top-k kernels (algorithms/), fusion, explanations."""

from lexir.search.options import SearchOptions
from lexir.search.results import Hit, SearchResult
from lexir.search.searcher import Searcher, open_search

__all__ = ["Hit", "SearchOptions", "SearchResult", "Searcher", "open_search"]
