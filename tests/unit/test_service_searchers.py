"""A served index opens its retrievers once: every mode and feedback setting a request names shares their query
encoders (and models), their segment caches and the feedback caches (forward rows); the Searchers made per setting
are bounded. Before, each new feedback weight a client sent opened new retrievers and loaded the models again
(NFCorpus splade-tiny + MiniLM: about 92 MiB and 300 ms per setting)."""

from __future__ import annotations

import pytest

from lexir.api import service as service_module
from lexir.api.service import SearchService
from lexir.search import SearchOptions, open_search
from lexir.search.feedback import Feedback

QUERIES = ["sparse retrieval", "inverted index", "dense vectors"]


def ids(result) -> list[tuple[str, float]]:
    return [(hit.id, round(hit.score, 5)) for hit in result.hits]


def test_modes_and_feedback_settings_share_one_set_of_retrievers(dense_index):
    service = SearchService(dense_index)
    plain = {mode: service.searcher(SearchOptions(mode=mode)) for mode in ("sparse", "dense", "hybrid")}
    sparse, dense = plain["sparse"].retrievers["sparse"], plain["dense"].retrievers["dense"]
    assert plain["hybrid"].retrievers["sparse"] is sparse and plain["hybrid"].retrievers["dense"] is dense
    dense_feedback = Feedback("rocchio", docs=2, weight=0.9)
    for method in ("rm3", "rocchio"):
        settings = [SearchOptions(mode="hybrid", prf=Feedback(method, docs=3, terms=10, weight=weight),
                                  dense_prf=dense_feedback) for weight in (0.2, 0.5, 0.8)]
        searchers = [service.searcher(options) for options in settings]
        for searcher in searchers:
            assert searcher.retrievers["sparse"].inner is sparse and searcher.retrievers["dense"].inner is dense
            assert searcher.retrievers["sparse"].encoder is sparse.encoder  # one query encoder, one model
        assert searchers[0].retrievers["sparse"]._caches is searchers[2].retrievers["sparse"]._caches
        for options in settings:  # what a request gets equals a Searcher opened for it alone
            alone = open_search(dense_index, options)
            for query in QUERIES:
                assert ids(service.search([query], 5, options, False, False)[0]) == ids(alone.search(query, k=5))


def test_the_searchers_kept_are_the_last_used_few(dense_index, monkeypatch):
    monkeypatch.setattr(service_module, "MAX_SEARCHERS", 4)
    service = SearchService(dense_index)
    kept = service.searcher(SearchOptions())
    for step in range(10):
        service.searcher(SearchOptions(prf=Feedback("rm3", weight=step / 10)))
        assert service.searcher(SearchOptions()).retrievers == kept.retrievers  # used again: never the one dropped
    assert len(service._searchers) == 4
    again = service.searcher(SearchOptions(prf=Feedback("rm3", weight=0.0)))  # dropped earlier: made again
    assert again.retrievers["sparse"].inner is kept.retrievers["sparse"]


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_a_mode_the_index_lacks_is_a_clear_error(index_without_dense, mode):
    from lexir.errors import LexirError

    with pytest.raises(LexirError, match="dense side"):
        SearchService(index_without_dense).searcher(SearchOptions(mode=mode))


@pytest.fixture(scope="module")
def index_without_dense(tmp_path_factory):
    from lexir.corpus import Corpus
    from lexir.encoders import create_encoder
    from lexir.index import build_index
    from tests.helpers import write_jsonl

    folder = tmp_path_factory.mktemp("sparse-only")
    build_index(Corpus(str(write_jsonl(folder / "docs.jsonl"))), create_encoder("bm25"), folder / "index",
                progress=False)
    return folder / "index"
