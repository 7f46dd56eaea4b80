"""`lexir serve` over a sharded index for real: a subprocess over HTTP (search, a routed write, stats), and the
one-line refusal of a sharded index with a missing shard."""

from __future__ import annotations

import shutil

import httpx
import pytest

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.index.sharded import shard_of
from lexir.index.sharded_build import build_sharded_index
from tests.api_helpers import running_server
from tests.helpers import assert_one_line_error, lexir, write_jsonl

KEY = "sharded-serve-key"


@pytest.mark.integration
def test_real_server_over_a_sharded_index(tmp_path):
    index = tmp_path / "sharded"
    build_sharded_index(Corpus(str(write_jsonl(tmp_path / "docs.jsonl"))), create_encoder("bm25"), index, 2,
                        progress=False)
    with running_server(index, api_key=KEY) as url:
        found = httpx.get(f"{url}/search", params={"q": "boundary layer heat transfer", "k": 2}).json()
        assert found["hits"][0]["id"] in {"d4", "d11"} and found["partial"] is False
        document = {"id": "live-1", "title": "Icing on wings", "text": "Ice on a wing's leading edge cuts lift."}
        added = httpx.post(f"{url}/documents", json={"documents": [document]},
                           headers={"Authorization": f"Bearer {KEY}"})
        assert added.status_code == 200
        hits = httpx.get(f"{url}/search", params={"q": "ice on the leading edge of a wing", "k": 1}).json()["hits"]
        assert hits[0]["id"] == "live-1"
        stats = httpx.get(f"{url}/stats", headers={"X-API-Key": KEY}).json()
        owner = f"shard-{shard_of('live-1', 2):02d}"
        assert stats["documents"] == 13 and stats["shards"][owner]["segments"] == 2
    shutil.rmtree(index / "shard-01")
    assert_one_line_error(lexir("serve", str(index), check=False), "shard shard-01")
