"""Evaluation: datasets with judgements, runs, ir_measures scores, efficiency figures, comparisons.

The CLI (`lexir.eval.cli.eval_app`) is a face over these functions.
"""

from lexir.eval.datasets import EvalDataset, Topic, load_dataset
from lexir.eval.measures import DEFAULT_MEASURES, parse_measures, score_run
from lexir.eval.report import compare, paired_t_test
from lexir.eval.results import Efficiency, EvalResult, IndexStats, load_result, write_trec_run
from lexir.eval.runner import DEFAULT_DEPTH, evaluate

__all__ = ["DEFAULT_DEPTH", "DEFAULT_MEASURES", "Efficiency", "EvalDataset", "EvalResult", "IndexStats", "Topic",
           "compare", "evaluate", "load_dataset", "load_result", "paired_t_test", "parse_measures", "score_run",
           "write_trec_run"]
