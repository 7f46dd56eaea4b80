"""`lexir train`: prepare the data (teacher-scored candidate lists) and train an inference-free student."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lexir.encoders.device import resolve_device
from lexir.errors import LexirError
from lexir.train.options import FLOPS_MODES, METHOD_TEACHERS, NORMALIZATIONS, TEACHERS, TrainOptions
from lexir.train.prepare import DataOptions, prepare_data

DEFAULTS, DATA_DEFAULTS = TrainOptions(), DataOptions()


def train_command(
    output: Annotated[Path, typer.Argument(help="run folder: log, checkpoints, loss.png, and the model/ folder")],
    supervised: Annotated[list[str] | None, typer.Option(
        help="labelled training split (ir_datasets id or BEIR folder; repeatable; never a test split)")] = None,
    no_supervised: Annotated[bool, typer.Option("--no-supervised", help="train on ICT pairs only")] = False,
    ict_corpus: Annotated[list[str] | None, typer.Option(
        help="corpus for Inverse Cloze Task pairs (ir_datasets id, BEIR folder or JSONL(.gz); repeatable)")] = None,
    ict_pairs: Annotated[int, typer.Option(help="ICT pairs per ICT corpus")] = DATA_DEFAULTS.ict_pairs,
    ict_pool_docs: Annotated[int, typer.Option(help="documents sampled from each ICT corpus (negatives mined "
                                                    "among them)")] = DATA_DEFAULTS.ict_pool_docs or 0,
    max_queries: Annotated[int | None, typer.Option(help="labelled queries kept per split (default: all)")] = None,
    candidates: Annotated[int, typer.Option(help="candidates mined per query by BM25 and by the sparse teacher")]
    = DATA_DEFAULTS.candidates,
    base_model: Annotated[str, typer.Option(help="student initialisation (masked LM; registry name, hub id or "
                                                 "folder)")] = DEFAULTS.base_model,
    student: Annotated[str, typer.Option(help="the student: splade-tiny (--base-model, by default splade-tiny) or "
                                              "minilm (all-MiniLM-L6-v2's encoder with an MLM head tied to its word "
                                              "embeddings: 6 layers, 384 wide)")] = "splade-tiny",
    sparse_teacher: Annotated[str, typer.Option(help="siamese sparse teacher")] = DATA_DEFAULTS.sparse_teacher,
    dense_teacher: Annotated[str, typer.Option(help="dense teacher")] = DATA_DEFAULTS.dense_teacher,
    teacher: Annotated[list[str] | None, typer.Option(
        help=f"teachers the student learns from: {', '.join(TEACHERS)} (repeatable; default: "
             f"{' and '.join(METHOD_TEACHERS)})")] = None,
    normalization: Annotated[str, typer.Option(help=f"per-query teacher score normalization: "
                                                    f"{', '.join(NORMALIZATIONS)}")] = DEFAULTS.normalization,
    teacher_scale: Annotated[float, typer.Option(help="normalized ensemble score x this = teacher logits")]
    = DEFAULTS.teacher_scale,
    flops: Annotated[str, typer.Option(help=f"sparsity penalty: {', '.join(FLOPS_MODES)} (see docs)")]
    = DEFAULTS.flops,
    flops_weight: Annotated[float, typer.Option(help="weight of the FLOPS penalty after warm-up")]
    = DEFAULTS.flops_weight,
    flops_warmup_steps: Annotated[int, typer.Option(help="steps of quadratic warm-up of the FLOPS weight")]
    = DEFAULTS.flops_warmup_steps,
    contrastive_weight: Annotated[float, typer.Option(help="weight of InfoNCE on labelled positives (0: off)")]
    = DEFAULTS.contrastive_weight,
    idf: Annotated[str, typer.Option(help="query IDF: 'data' (BM25 IDF of the training texts) or an idf.json")]
    = DEFAULTS.idf,
    train_idf: Annotated[bool, typer.Option(help="train the IDF weights too")] = DEFAULTS.train_idf,
    group_size: Annotated[int, typer.Option(help="documents per query per step (1 positive + negatives)")]
    = DEFAULTS.group_size,
    batch_size: Annotated[int, typer.Option(help="queries per step")] = DEFAULTS.batch_size,
    steps: Annotated[int, typer.Option(help="optimisation steps")] = DEFAULTS.steps,
    learning_rate: Annotated[float, typer.Option(help="AdamW peak learning rate")] = DEFAULTS.learning_rate,
    max_doc_length: Annotated[int, typer.Option(help="document token limit in training")] = DEFAULTS.max_doc_length,
    save_every: Annotated[int, typer.Option(help="checkpoint every N steps")] = DEFAULTS.save_every,
    seed: Annotated[int, typer.Option(help="seed of data sampling, initialisation and dropout")] = DEFAULTS.seed,
    dev: Annotated[str | None, typer.Option(
        help="dev split scored at every checkpoint (nDCG@10); the best checkpoint is the exported model "
             "(never a test split)")] = None,
    device: Annotated[str, typer.Option(help="torch device to train on: cpu, cuda, cuda:N or auto (cuda where torch "
                                             "sees a GPU); on CUDA, float32 matrix products use TF32")] = "cpu",
    threads: Annotated[int | None, typer.Option(help="torch threads (default: torch's choice)")] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in OUTPUT from its last checkpoint")] = False,
    cache: Annotated[Path | None, typer.Option(help="where prepared data is cached (default: the lexir cache)")]
    = None,
    quiet: Annotated[bool, typer.Option(help="no progress bars")] = False,
) -> None:
    """Train an inference-free sparse encoder by IDF-aware FLOPS and heterogeneous ensemble distillation."""
    import torch
    from rich.console import Console

    from lexir.eval.indexes import cache_root
    from lexir.train.dev import load_dev_set
    from lexir.train.init import student_base_model
    from lexir.train.trainer import train

    if threads:
        torch.set_num_threads(threads)
    base_model = student_base_model(student, base_model, DEFAULTS.base_model, cache or cache_root())
    data_options = DataOptions(
        supervised=() if no_supervised else tuple(supervised or DATA_DEFAULTS.supervised),
        ict_corpora=tuple(ict_corpus or ()), ict_pairs=ict_pairs, ict_pool_docs=ict_pool_docs or None,
        max_queries=max_queries, candidates=candidates, sparse_teacher=sparse_teacher, dense_teacher=dense_teacher,
        student_tokenizer=base_model, seed=seed)
    options = TrainOptions(
        base_model=base_model, teachers=tuple(teacher or METHOD_TEACHERS), normalization=normalization,
        teacher_scale=teacher_scale, flops=flops, flops_weight=flops_weight, flops_warmup_steps=flops_warmup_steps,
        contrastive_weight=contrastive_weight, idf=idf, train_idf=train_idf, group_size=group_size,
        batch_size=batch_size, steps=steps, learning_rate=learning_rate, max_doc_length=max_doc_length,
        save_every=save_every, seed=seed, dev=dev)
    options.check()
    device = _training_device(device)
    data = prepare_data(data_options, cache or cache_root(), progress=not quiet)
    dev_set = load_dev_set(dev, cache or cache_root()) if dev else None
    try:
        report = train(options, data, output, resume=resume, progress=not quiet, device=device, dev=dev_set)
    except torch.OutOfMemoryError:
        raise LexirError(f"out of memory on {device}: lower --batch-size, --group-size or --max-doc-length (or run "
                         "fewer trainings on this GPU at once), then continue with --resume") from None
    Console(stderr=True).print(
        f"trained {report.steps} steps ({report.seconds / 60:.1f} min this run"
        f"{f', resumed at step {report.resumed_from}' if report.resumed_from else ''}); "
        f"mean nonzeros per training document {report.mean_doc_nonzeros:.0f}; "
        f"{f'best on dev: step {report.best_step}, nDCG@10 {report.best_dev_score:.4f}; ' if dev else ''}"
        f"model: {report.model} "
        f"(use it as `--encoder {report.model}`)")


def _training_device(name: str) -> str:
    """The device `name` means here (a one-line error where it is unknown or absent); on CUDA, allow TF32, which
    training tolerates and encoding does not switch on (lexir.encoders.device)."""
    import torch

    device = resolve_device(name)
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32: the tensor cores, at a mantissa training tolerates
    return str(device)
