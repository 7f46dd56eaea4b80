"""Command-line options: every search option declared once, for `lexir search` and `lexir eval` alike.

`with_search_options` adds the typer parameters of every SearchOptions field to a command and hands the
command one validated `SearchOptions` (as its `search_options` argument) instead of a dozen loose values.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from lexir.errors import LexirError
from lexir.search.feedback import DENSE_FEEDBACK, Feedback
from lexir.search.fusion import DEFAULT_FUSION_DEPTH, RRF_K
from lexir.search.options import SearchOptions, fusion_of

_OPTIONS: dict[str, tuple[Any, Any]] = {  # parameter name -> (annotation, default)
    "mode": (Annotated[str, typer.Option(
        "--mode", help="What searches: sparse (the inverted index), dense (the index's FAISS side) or hybrid "
                       "(both, fused).")], "sparse"),
    "query_weighting": (Annotated[str, typer.Option(
        "--query-weighting", help="Query term weights: model (the encoder's), idf (the index's corpus IDF) or "
                                  "model-idf (their product).")], "model"),
    "query_option": (Annotated[list[str] | None, typer.Option(
        "--query-option", help="Query-side encoder option KEY=VALUE, repeatable (inference-free: "
                               "idf=auto|text|vectors|PATH, query_tf=binary|count, min_idf=X, drop_stopwords=true, "
                               "max_query_terms=N).")], None),
    "algorithm": (Annotated[str, typer.Option(
        "--algorithm", help="Top-k algorithm: auto (chosen per query), exhaustive, maxscore or block_max_maxscore; "
                            "all exact.")], "auto"),
    "heap_factor": (Annotated[float, typer.Option(
        "--heap-factor", help="1 = exact; below 1 (e.g. 0.8) pruning skips more documents: faster, "
                              "approximate.")], 1.0),
    "query_cut": (Annotated[int | None, typer.Option(
        "--query-cut", help="Approximate: keep only the N query terms that can add the most to a score.")], None),
    "fuse": (Annotated[str | None, typer.Option(
        "--fuse", help="How several retrievers' lists are fused: rrf (reciprocal rank fusion, the default) or "
                       "convex (a weighted sum of normalized scores).")], None),
    "weights": (Annotated[str | None, typer.Option(
        "--weights", help="One fusion weight per retriever, comma-separated, in order: sparse,dense for each index "
                          "(e.g. 0.3,0.7). Default: equal.")], None),
    "normalization": (Annotated[str | None, typer.Option(
        "--normalization", help="Score normalization of --fuse convex: minmax (default) or zscore.")], None),
    "rrf_k": (Annotated[int, typer.Option("--rrf-k", help="The k of reciprocal rank fusion, 1/(k + rank).")],
              RRF_K),
    "fusion_depth": (Annotated[int, typer.Option(
        "--fusion-depth", help="Hits taken from each retriever before fusing (at least the number of hits "
                               "asked).")], DEFAULT_FUSION_DEPTH),
    "prf": (Annotated[str | None, typer.Option(
        "--prf", help="Pseudo-relevance feedback of the sparse side: rm3 (BM25 indexes), rocchio (any sparse "
                      "index, from the top documents' stored vectors) or auto (each sparse side its own: rm3 on "
                      "BM25, rocchio on the others).")], None),
    "prf_docs": (Annotated[int, typer.Option("--prf-docs", help="Top documents that feed back (sparse).")],
                 Feedback.docs),
    "prf_terms": (Annotated[int, typer.Option("--prf-terms", help="Expansion terms kept (sparse).")], Feedback.terms),
    "prf_weight": (Annotated[float, typer.Option(
        "--prf-weight", help="The original query's share of the expanded query, 0..1 (sparse).")], Feedback.weight),
    "dense_prf": (Annotated[bool, typer.Option(
        "--dense-prf/--no-dense-prf", help="Rocchio feedback of the dense side: the query moved towards the mean "
                                           "of its top documents' embeddings.")], False),
    "dense_prf_docs": (Annotated[int, typer.Option("--dense-prf-docs", help="Top documents that feed back "
                                                   "(dense).")], DENSE_FEEDBACK.docs),
    "dense_prf_weight": (Annotated[float, typer.Option(
        "--dense-prf-weight", help="The original query's share of the moved query, 0..1 (dense).")],
        DENSE_FEEDBACK.weight),
}


DeviceOption = Annotated[str | None, typer.Option(
    help="Where model encoders run: cpu (default), cuda, cuda:N or auto (cuda where torch sees a GPU); encoders "
         "without a model (BM25) ignore it.")]

_PRESET = (Annotated[str | None, typer.Option(
    "--preset", help="A named configuration from lexir/presets.toml (e.g. offline-best): its search options "
                     "(and, for lexir eval, the indexes it needs), in place of the options above.")], None)


def with_search_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a typer command every search option and --preset; it receives them as one `search_options:
    SearchOptions` (and, if it has a `preset` parameter, the chosen Preset or None)."""
    signature = inspect.signature(command, eval_str=True)
    wants_preset = "preset" in signature.parameters
    own = [parameter for parameter in signature.parameters.values()
           if parameter.name not in ("search_options", "preset")]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
             for name, (annotation, default) in {**_OPTIONS, "preset": _PRESET}.items()]

    @functools.wraps(command)
    def wrapper(**values: Any) -> Any:
        search_values = {name: values.pop(name) for name in _OPTIONS}
        preset = _preset(values.pop("preset"), search_values)
        options = preset.options if preset is not None else search_options_from_cli(**search_values)
        if preset is not None and isinstance(values.get("index"), Path):
            from lexir.presets import warn_index_differences

            warn_index_differences(preset, values["index"])
        if wants_preset:
            values["preset"] = preset
        return command(search_options=options, **values)

    parameters = own + added
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return wrapper


def _preset(name: str | None, search_values: dict[str, Any]) -> Any:
    """The named preset (None without --preset); other search options beside it are refused."""
    if name is None:
        return None
    from lexir.presets import load_preset

    given = [name for name, value in search_values.items() if value != _OPTIONS[name][1]]
    if given:
        flags = ", ".join("--" + one.replace("_", "-") for one in given)
        raise LexirError(f"--preset sets every search option; give it alone, not with {flags}")
    return load_preset(name)


def search_options_from_cli(*, mode: str, query_weighting: str, query_option: Sequence[str] | None, algorithm: str,
                            heap_factor: float, query_cut: int | None, fuse: str | None, weights: str | None,
                            normalization: str | None, rrf_k: int, fusion_depth: int, prf: str | None = None,
                            prf_docs: int = Feedback.docs, prf_terms: int = Feedback.terms,
                            prf_weight: float = Feedback.weight, dense_prf: bool = False,
                            dense_prf_docs: int = DENSE_FEEDBACK.docs,
                            dense_prf_weight: float = DENSE_FEEDBACK.weight) -> SearchOptions:
    """The SearchOptions that the command-line values ask for (validated)."""
    return SearchOptions(mode=mode, query_weighting=query_weighting, query_options=parse_key_values(query_option),
                         algorithm=algorithm, heap_factor=heap_factor, query_cut=query_cut,
                         fusion=fusion_of(fuse, parse_weights(weights) if weights is not None else None,
                                          normalization, rrf_k),
                         fusion_depth=fusion_depth,
                         prf=Feedback(prf, prf_docs, prf_terms, prf_weight) if prf is not None else None,
                         dense_prf=(Feedback("rocchio", dense_prf_docs, Feedback.terms, dense_prf_weight)
                                    if dense_prf else None))


def parse_key_values(items: Sequence[str] | None) -> dict[str, Any]:
    """`["idf=text", "max_query_terms=8", "drop_stopwords=true"]` -> {"idf": "text", ...}.

    Values that read as JSON (numbers, true/false, null) become those; anything else stays a string.
    """
    options: dict[str, Any] = {}
    for item in items or []:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise LexirError(f"option {item!r} is not KEY=VALUE (e.g. --query-option idf=text)")
        try:
            options[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip().replace("-", "_")] = value
    return options


def parse_weights(text: str) -> tuple[float, ...]:
    """`"0.3,0.7"` -> (0.3, 0.7)."""
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise LexirError(f"--weights {text!r} is not a comma-separated list of numbers (e.g. 0.3,0.7)") from None
