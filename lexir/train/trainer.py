"""The training loop: seeded batches, checkpoints every `save_every` steps, resume, a JSONL log, a loss plot.

The batch of step n is drawn from a generator seeded with (seed, n), so a resumed run sees exactly the batches
an uninterrupted one would have; checkpoints also keep the optimizer, the schedule and torch's RNG (dropout).
The output folder holds `options.json`, `log.jsonl`, `checkpoints/step-NNNNNN.pt` (the last two kept),
`loss.png` and, at the end, `model/`: the masked-LM folder with `idf.json` that lexir (or OpenSearch) loads as
an inference-free encoder. With a dev split, every checkpoint is also scored on it (lexir.train.dev), the best
one is kept as `checkpoints/best.pt`, and `model/` is that one, not the last: early stopping without stopping.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from lexir.encoders.idf import IDF_FILE, load_idf_json
from lexir.errors import LexirError
from lexir.files import atomic_write, swap_folder, write_json_atomic, write_text_atomic
from lexir.train.dev import DEV_MEASURE, DevSet, dev_score
from lexir.train.losses import ensemble_distribution, loss_terms, warmed_up
from lexir.train.options import TrainOptions
from lexir.train.prepare import PreparedData

logger = logging.getLogger(__name__)

OPTIONS_FILE, LOG_FILE, PLOT_FILE, MODEL_DIR, CHECKPOINT_DIR = (
    "options.json", "log.jsonl", "loss.png", "model", "checkpoints")
BEST_CHECKPOINT = "best.pt"
TRAINING_RECORD = "lexir-training.json"
KEEP_CHECKPOINTS = 2


@dataclass(frozen=True)
class TrainReport:
    output: Path
    model: Path
    steps: int
    resumed_from: int
    seconds: float
    mean_doc_nonzeros: float
    best_step: int | None = None
    best_dev_score: float | None = None


def train(options: TrainOptions, data: PreparedData, output: Path, *, resume: bool = False,
          progress: bool = True, device: str = "cpu", dev: DevSet | None = None) -> TrainReport:
    """Train a student on `data` into `output` (resuming from its last checkpoint when `resume`) on `device`;
    with `dev`, export the checkpoint that scores best on it."""
    import torch

    options.check()
    if (dev is None) != (options.dev is None):
        raise LexirError("options.dev names the dev split and `dev` must be that split, or both be None")
    usable = [item for item in data.lists if len(item.keys) - item.num_positives >= options.group_size - 1]
    if not usable:
        raise LexirError(f"no training list has {options.group_size - 1} negatives; lower --group-size")
    record = {"train": asdict(options), "data": data.summary.get("options", {}), "data_folder": str(data.folder)}
    start_step = _open_output(output, record, resume)
    torch.manual_seed(options.seed)
    student = _student(options, data).to(device)
    trainable = [parameter for parameter in student.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, options))
    if start_step:
        state = torch.load(_checkpoint(output, start_step), weights_only=False, map_location=device)
        student.load_state_dict(state["student"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
    best = _best_so_far(output) if start_step else None
    started = time.perf_counter()
    nonzeros: list[float] = []
    with open(output / LOG_FILE, "a", encoding="utf-8") as log, \
            tqdm(total=options.steps, initial=start_step, desc="training", unit="step", disable=not progress) as bar:
        for step in range(start_step + 1, options.steps + 1):
            queries, documents, teacher_scores = _batch(usable, data.texts, options, step)
            scores, doc_weights = student.scores(queries, documents, options.group_size)
            target = ensemble_distribution([torch.tensor(teacher_scores[name], device=device)
                                            for name in options.teachers],
                                           options.normalization, options.teacher_scale)
            flops_weight = warmed_up(options.flops_weight, step, options.flops_warmup_steps)
            terms = loss_terms(scores, target, doc_weights, student.idf, flops_mode=options.flops,
                               flops_weight=flops_weight, contrastive_weight=options.contrastive_weight)
            optimizer.zero_grad()
            terms["total"].backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            nonzeros.append(float((doc_weights > 0).sum(dim=1).float().mean()))
            entry = {"step": step, "seconds": round(time.perf_counter() - started, 2),
                     "lr": schedule.get_last_lr()[0], "flops_weight": flops_weight,
                     "doc_nonzeros": nonzeros[-1], **{name: float(value.detach()) for name, value in terms.items()}}
            checkpoint = step % options.save_every == 0 or step == options.steps
            if checkpoint and dev is not None:
                entry["dev"] = dev_score(student, dev)
                if best is None or entry["dev"] > best["dev"]:
                    best = {"step": step, "dev": entry["dev"]}
                    _save_best(output, best, student)
            log.write(json.dumps(entry) + "\n")
            bar.set_postfix(loss=f"{entry['total']:.3f}", nnz=f"{nonzeros[-1]:.0f}",
                            **({"dev": f"{best['dev']:.4f}@{best['step']}"} if best else {}))
            bar.update()
            if checkpoint:
                log.flush()
                _save_checkpoint(output, step, student, optimizer, schedule)
    from lexir.train.plot import plot_log

    plot_log(output / LOG_FILE, output / PLOT_FILE)
    seconds = time.perf_counter() - started
    if best is not None:
        student.load_state_dict(torch.load(output / CHECKPOINT_DIR / BEST_CHECKPOINT, weights_only=False,
                                           map_location=device)["student"])
        record = {**record, "best_on_dev": {"step": best["step"], DEV_MEASURE: best["dev"], "split": options.dev}}
    model = _export(output, student, record, seconds, start_step)
    return TrainReport(output, model, options.steps, start_step, seconds,
                       float(np.mean(nonzeros)) if nonzeros else float("nan"),
                       best["step"] if best else None, best["dev"] if best else None)


def _open_output(output: Path, record: dict[str, Any], resume: bool) -> int:
    """Create the output folder, or check it for a resume; the step to resume from (0: a fresh run)."""
    options_file = output / OPTIONS_FILE
    if not options_file.exists():
        if output.exists() and any(output.iterdir()):
            raise LexirError(f"{output} exists and is not a lexir training folder; give a new or empty folder")
        output.mkdir(parents=True, exist_ok=True)
        write_json_atomic(options_file, record, indent=2)
        return 0
    if not resume:
        raise LexirError(f"{output} already holds a training run: add --resume to continue it, or use a new folder")
    saved, wanted = json.loads(options_file.read_text()), json.loads(json.dumps(record))  # tuples as lists
    if saved["train"] != wanted["train"] or saved["data"] != wanted["data"]:
        raise LexirError(f"{output} was trained with other options; resume with the same options or use a new "
                         "folder")
    steps = sorted(int(path.stem.split("-")[1]) for path in (output / CHECKPOINT_DIR).glob("step-*.pt"))
    last = steps[-1] if steps else 0
    _truncate_log(output / LOG_FILE, last)
    return last


def _truncate_log(path: Path, last_step: int) -> None:
    """Drop log lines past the checkpoint a run resumes from (they will be written again)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= last_step]
    write_text_atomic(path, "".join(line + "\n" for line in kept))


def _student(options: TrainOptions, data: PreparedData) -> Any:
    from lexir.encoders import create_encoder
    from lexir.encoders.hf import read_vocabulary
    from lexir.train.student import InferenceFreeStudent

    folder = create_encoder(options.base_model).model_folder

    idf_path = data.idf_path if options.idf == "data" else Path(options.idf).expanduser()
    idf = load_idf_json(idf_path, read_vocabulary(folder))
    return InferenceFreeStudent(folder, idf, train_idf=options.train_idf, max_doc_length=options.max_doc_length)


def _lr_factor(step: int, options: TrainOptions) -> float:
    """Linear warm-up, then linear decay to zero at the last step."""
    if step < options.warmup_steps:
        return (step + 1) / options.warmup_steps
    return max(0.0, (options.steps - step) / max(1, options.steps - options.warmup_steps))


def _batch(lists: list[Any], texts: dict[str, str], options: TrainOptions, step: int
           ) -> tuple[list[str], list[str], dict[str, list[list[float]]]]:
    """Step `step`'s queries, their groups (a positive first, then sampled negatives) and teacher scores."""
    rng = np.random.default_rng([options.seed, step])
    chosen = rng.choice(len(lists), size=min(options.batch_size, len(lists)), replace=False)
    queries, documents = [], []
    teacher_scores: dict[str, list[list[float]]] = {name: [] for name in options.teachers}
    for index in chosen:
        item = lists[index]
        positive = int(rng.integers(item.num_positives))
        negatives = rng.choice(np.arange(item.num_positives, len(item.keys)), size=options.group_size - 1,
                               replace=False)
        positions = [positive, *negatives.tolist()]
        queries.append(item.query)
        documents += [texts[item.keys[i]] for i in positions]
        for name in options.teachers:
            teacher_scores[name].append([item.teacher_scores[name][i] for i in positions])
    return queries, documents, teacher_scores


def _best_so_far(output: Path) -> dict[str, Any] | None:
    """The step and dev score of the best checkpoint of a resumed run (None before the first dev score)."""
    import torch

    path = output / CHECKPOINT_DIR / BEST_CHECKPOINT
    if not path.is_file():
        return None
    state = torch.load(path, weights_only=False, map_location="cpu")
    return {"step": state["step"], "dev": state["dev"]}


def _save_best(output: Path, best: dict[str, Any], student: Any) -> None:
    _save_atomically(output / CHECKPOINT_DIR / BEST_CHECKPOINT, {**best, "student": student.state_dict()})


def _save_atomically(path: Path, state: dict[str, Any]) -> None:
    """torch.save through lexir.files.atomic_write: a crash never leaves half a checkpoint."""
    import torch

    path.parent.mkdir(exist_ok=True)
    with atomic_write(path) as handle:
        torch.save(state, handle)


def _checkpoint(output: Path, step: int) -> Path:
    return output / CHECKPOINT_DIR / f"step-{step:06d}.pt"


def _save_checkpoint(output: Path, step: int, student: Any, optimizer: Any, schedule: Any) -> None:
    """Write step `step`'s checkpoint (everything a resume needs) and drop all but the last KEEP_CHECKPOINTS."""
    import torch

    path = _checkpoint(output, step)
    _save_atomically(path, {
        "step": step, "student": student.state_dict(), "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(), "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None})
    for old in sorted(path.parent.glob("step-*.pt"))[:-KEEP_CHECKPOINTS]:
        old.unlink()


def _export(output: Path, student: Any, record: dict[str, Any], seconds: float, resumed_from: int) -> Path:
    """The trained model folder with its idf.json, written aside and swapped into place."""
    model = output / MODEL_DIR
    staging = output / (MODEL_DIR + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    student.save_pretrained(staging)
    (staging / IDF_FILE).write_text(json.dumps(student.idf_table(), ensure_ascii=False))
    (staging / TRAINING_RECORD).write_text(json.dumps(
        {**record, "seconds_this_run": round(seconds, 1), "resumed_from_step": resumed_from}, indent=2))
    swap_folder(staging, model)
    return model
