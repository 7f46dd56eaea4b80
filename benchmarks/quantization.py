"""Effect of impact quantization on nDCG@10: float32 scores vs 8-bit and 16-bit indexes.

    python benchmarks/quantization.py --dataset beir/nfcorpus/test --encoder bm25
    python benchmarks/quantization.py --dataset beir/nfcorpus/test --encoder splade-tiny

Encodes the corpus once, scores every query exhaustively with scipy on the float
vectors and on their quantized-then-dequantized copies, and prints nDCG@10 of each.
"""

from __future__ import annotations

import argparse

import ir_datasets
import ir_measures
import numpy as np
from ir_measures import nDCG

from lexir.corpus import Corpus
from lexir.encoders import create_encoder
from lexir.encoders.base import needs_corpus_fit
from lexir.index.quantize import Quantizer


def ndcg_at_10(scores: np.ndarray, query_ids: list[str], doc_ids: list[str], qrels: list) -> float:
    run = []
    for row, query_id in zip(scores, query_ids):
        top = np.lexsort((np.arange(len(row)), -row))[:1000]
        run.extend(ir_measures.ScoredDoc(query_id, doc_ids[j], float(row[j])) for j in top if row[j] > 0
                   and doc_ids[j] != query_id)
    return ir_measures.calc_aggregate([nDCG @ 10], qrels, run)[nDCG @ 10]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="beir/nfcorpus/test")
    parser.add_argument("--encoder", default="bm25")
    args = parser.parse_args()
    dataset = ir_datasets.load(args.dataset)
    corpus = list(Corpus(args.dataset))
    encoder = create_encoder(args.encoder)
    if needs_corpus_fit(encoder):
        encoder.fit(doc.contents for doc in corpus)
    documents = encoder.encode_documents([doc.contents for doc in corpus])
    queries = list(dataset.queries_iter())
    query_vectors = encoder.encode_queries([q.text for q in queries])
    query_ids, doc_ids = [q.query_id for q in queries], [doc.id for doc in corpus]
    qrels = list(dataset.qrels_iter())
    results = {"float32": ndcg_at_10((query_vectors @ documents.T).toarray(), query_ids, doc_ids, qrels)}
    for bits in (8, 16):
        quantizer = Quantizer.fit(float(documents.data.max()), bits)
        quantized = documents.copy()
        quantized.data = quantizer.dequantize(quantizer.quantize(documents.data))
        results[f"{bits}-bit"] = ndcg_at_10((query_vectors @ quantized.T).toarray(), query_ids, doc_ids, qrels)
    for name, value in results.items():
        print(f"{args.dataset} {args.encoder} {name}: nDCG@10 = {value:.4f}")
    print(f"8-bit loss vs float32: {results['float32'] - results['8-bit']:+.4f}")


if __name__ == "__main__":
    main()
