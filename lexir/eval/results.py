"""An evaluation's outcome and its files: `result.json` (numbers) and `run.trec` (ranked lists).

The JSON holds what a later `lexir eval compare` needs (per-query values for paired
tests) and what the docs quote (aggregates, index statistics, efficiency figures).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lexir.errors import LexirError

RESULT_FILE = "result.json"
RUN_FILE = "run.trec"
RUN_TAG = "lexir"
RESULT_FORMAT = 1


@dataclass(frozen=True)
class IndexStats:
    path: str
    docs: int
    terms: int
    postings: int
    bytes: int


@dataclass(frozen=True)
class Efficiency:
    """Costs of building and searching; None where this run could not measure them.

    Latency is end to end per query (encode + single-threaded top-k), one query at a time;
    QPS is for all queries at once (one encoding pass, multi-threaded scoring). The nonzero and
    postings figures describe one sparse index; dense and fused runs leave them None.
    """

    built_now: bool
    build_seconds: float | None
    encode_docs_per_second: float | None
    latency_ms_mean: float | None
    latency_ms_p50: float | None
    latency_ms_p99: float | None
    batch_qps: float | None
    index_bytes: int
    mean_doc_nonzeros: float | None
    mean_query_nonzeros: float | None
    mean_postings_touched: float | None


@dataclass
class EvalResult:
    """One system on one dataset. `run` (query id -> [(doc id, score)], best first) is not saved in the JSON."""

    dataset: str
    encoder: dict[str, Any]
    index: IndexStats
    measures: dict[str, float]
    per_query: dict[str, dict[str, float]]
    efficiency: Efficiency
    depth: int
    drop_self_hits: bool
    num_queries: int
    lexir_version: str
    created_at: str
    query: dict[str, Any] = field(default_factory=dict)
    run: dict[str, list[tuple[str, float]]] = field(default_factory=dict, repr=False)
    source: Path | None = field(default=None, repr=False, compare=False)

    @property
    def encoder_name(self) -> str:
        return str(self.encoder.get("name", "?"))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(replace(self, run={}))  # the run (depth x queries hits) is not saved: not copied either
        del data["run"], data["source"]
        return {"format": RESULT_FORMAT, **_finite(data)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: Path | None = None) -> EvalResult:
        return cls(
            dataset=data["dataset"], encoder=data["encoder"], index=IndexStats(**data["index"]),
            measures={k: float(v) for k, v in data["measures"].items()},
            per_query={qid: {k: float(v) for k, v in values.items()} for qid, values in data["per_query"].items()},
            efficiency=Efficiency(**data["efficiency"]), depth=int(data["depth"]),
            drop_self_hits=bool(data["drop_self_hits"]), num_queries=int(data["num_queries"]),
            lexir_version=data["lexir_version"], created_at=data["created_at"], query=data.get("query", {}),
            source=source,
        )

    def save(self, folder: Path) -> tuple[Path, Path]:
        """Write `result.json` and `run.trec` into `folder` (created if needed)."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LexirError(f"cannot create the output folder {folder}: {error.strerror}") from None
        result_path, run_path = folder / RESULT_FILE, folder / RUN_FILE
        result_path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        write_trec_run(self.run, run_path)
        return result_path, run_path


def load_result(path: Path | str) -> EvalResult:
    """Read a result.json, given the file or the folder that holds it."""
    path = Path(path).expanduser()
    file = path / RESULT_FILE if path.is_dir() else path
    if not file.is_file():
        raise LexirError(f"no evaluation result at {path} (expected a result.json or a folder holding one, "
                         "as written by `lexir eval DATASET --out DIR`)")
    try:
        return EvalResult.from_dict(json.loads(file.read_text(encoding="utf-8")), source=file)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LexirError(f"{file} is not valid JSON ({error})") from None
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise LexirError(f"{file} is not a lexir evaluation result (missing or bad field: {error})") from None


def format_score(score: float) -> str:
    """The shortest text that reads back as the same float32, so ties and order survive the file."""
    return np.format_float_positional(np.float32(score), trim="-")


def write_trec_run(run: dict[str, list[tuple[str, float]]], path: Path, tag: str = RUN_TAG) -> None:
    """`qid Q0 docid rank score tag`, ranks from 1, in the order given. Each distinct score is formatted once
    (a sparse run's quantized scores repeat: Cranfield's BM25 run has ~650 in 200,000 hits)."""
    formatted: dict[float, str] = {}
    with open(path, "w", encoding="utf-8") as handle:
        for qid, hits in run.items():
            for rank, (doc_id, score) in enumerate(hits, start=1):
                key = score or repr(score)  # 0.0 == -0.0, but they print apart
                text = formatted.get(key)
                if text is None:
                    text = formatted[key] = format_score(score)
                handle.write(f"{qid} Q0 {doc_id} {rank} {text} {tag}\n")


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
