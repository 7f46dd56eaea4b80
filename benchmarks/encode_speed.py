"""Document encoding throughput: lexir's SpladeEncoder vs sentence-transformers' SparseEncoder, same run.

    python benchmarks/encode_speed.py            # 2,000 imdb reviews and all of nfcorpus, 2 rounds
    python benchmarks/encode_speed.py --quick    # 256 imdb reviews, 1 round (under two minutes)

Both encode the same texts from the same SPLADE-tiny folder, fp32, max length 256, batch size 32, with
the same torch thread count; the engines take turns chunk by chunk (256 texts, their order rotating) so
that a slow minute of a shared machine hits them alike. Both outputs are checked to be equal (allclose)
before any time is reported. The last line is `lexir/sentence-transformers docs/s ratio: X` (fp32,
SPLADE-tiny, over all texts timed). `--dense` adds MiniLM (lexir's DenseEncoder vs SentenceTransformer,
outputs checked equal, both with their own max length).
Needs `pip install sentence-transformers` (the `bench` extra).
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path

import numpy as np
import torch

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.encoders.embedded import SPLADE_TINY

IMDB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "corpora" / "imdb-100k.jsonl.gz"
MAX_LENGTH = 256
BATCH_SIZE = 32
CHUNK = 256


def imdb_texts(count: int) -> list[str]:
    with gzip.open(IMDB, "rt", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in islice(lines, count)]


def nfcorpus_texts() -> list[str]:
    return [doc.contents for doc in Corpus("beir/nfcorpus")]


def timed(encode: Callable[[list[str]], object], texts: list[str]) -> float:
    started = time.perf_counter()
    encode(texts)
    return time.perf_counter() - started


def interleaved(engines: dict[str, Callable[[list[str]], object]], texts: list[str]) -> dict[str, float]:
    """Seconds each engine spends on `texts`, taken in chunks of CHUNK texts with the engines' order rotating
    from chunk to chunk, so that a slow minute of a shared machine falls on every engine alike."""
    spent = dict.fromkeys(engines, 0.0)
    names = list(engines)
    for number, start in enumerate(range(0, len(texts), CHUNK)):
        for name in names[number % len(names):] + names[: number % len(names)]:
            spent[name] += timed(engines[name], texts[start : start + CHUNK])
    return spent


def print_bf16_change(fp32: Callable[[list[str]], object], bf16: Callable[[list[str]], object],
                      texts: list[str]) -> None:
    """How much bf16 changes the document weights (vs fp32) on `texts`."""
    exact, approximate = fp32(texts).toarray(), bf16(texts).toarray()  # type: ignore[attr-defined]
    nonzero = (exact > 0) | (approximate > 0)
    relative = np.abs(approximate - exact).sum() / exact.sum()
    print(f"bf16 vs fp32 weights on {len(texts)} reviews: max abs diff {np.abs(approximate - exact).max():.3f}, "
          f"relative L1 change {relative:.4f}, nonzero pattern agreement "
          f"{((exact > 0) == (approximate > 0))[nonzero].mean():.4f}, nonzeros/doc "
          f"{(exact > 0).sum(1).mean():.1f} fp32 vs {(approximate > 0).sum(1).mean():.1f} bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, help="timed rounds per engine (default: 1 with --quick, else 2)")
    parser.add_argument("--bf16", action="store_true", help="also time lexir with --precision bf16 (lossy)")
    parser.add_argument("--dense", action="store_true",
                        help="also time MiniLM: lexir's DenseEncoder vs sentence-transformers' SentenceTransformer")
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer, SparseEncoder

    torch.set_num_threads(args.threads)
    collections = {"imdb-256": imdb_texts(256)} if args.quick else {"imdb-2000": imdb_texts(2000),
                                                                     "nfcorpus": nfcorpus_texts()}
    rounds = args.rounds or (1 if args.quick else 2)
    lexir_encoder = create_encoder("splade-tiny", batch_size=BATCH_SIZE, max_doc_length=MAX_LENGTH)
    st_encoder = SparseEncoder(SPLADE_TINY.path(), device="cpu")
    st_encoder.max_seq_length = MAX_LENGTH
    engines: dict[str, Callable[[list[str]], object]] = {
        "lexir": lexir_encoder.encode_documents,
        "sentence-transformers": lambda texts: st_encoder.encode_document(texts, batch_size=BATCH_SIZE,
                                                                          convert_to_tensor=True),
    }
    if args.bf16:
        engines["lexir bf16"] = create_encoder("splade-tiny", batch_size=BATCH_SIZE, max_doc_length=MAX_LENGTH,
                                               precision="bf16").encode_documents
        print_bf16_change(lexir_encoder.encode_documents, engines["lexir bf16"], imdb_texts(256))
    sample = imdb_texts(16)
    if args.dense:
        from lexir.encoders.embedded import MINILM
        from lexir.encoders.registry import create_dense_encoder

        lexir_dense = create_dense_encoder("minilm", batch_size=BATCH_SIZE)
        st_dense = SentenceTransformer(MINILM.path(), device="cpu")
        engines["lexir minilm"] = lexir_dense.encode_documents
        engines["sentence-transformers minilm"] = lambda texts: st_dense.encode(texts, batch_size=BATCH_SIZE)
        np.testing.assert_allclose(lexir_dense.encode_documents(sample), st_dense.encode(sample), atol=1e-5)
    ours = lexir_encoder.encode_documents(sample).toarray()
    theirs = st_encoder.encode_document(sample, batch_size=BATCH_SIZE, convert_to_tensor=True).to_dense().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-5)
    print(f"threads: {args.threads}; outputs equal on 16 reviews (max abs diff {np.abs(ours - theirs).max():.2e})")
    totals = {name: [0.0, 0] for name in engines}
    for collection, texts in collections.items():
        seconds = {name: [] for name in engines}
        for _ in range(rounds):
            for name, spent in interleaved(engines, texts).items():
                seconds[name].append(spent)
        for name, values in seconds.items():
            best = min(values)
            totals[name][0] += best
            totals[name][1] += len(texts)
            print(f"{collection:>10} {name:>22}: {len(texts) / best:8.1f} docs/s (best of {rounds}: {best:.1f} s)")
    rates = {name: count / seconds for name, (seconds, count) in totals.items()}
    if args.dense:
        print(f"lexir/sentence-transformers MiniLM docs/s ratio: "
              f"{rates['lexir minilm'] / rates['sentence-transformers minilm']:.2f}")
    print(f"lexir/sentence-transformers docs/s ratio: {rates['lexir'] / rates['sentence-transformers']:.2f}")


if __name__ == "__main__":
    main()
