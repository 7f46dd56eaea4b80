"""Joining a Ray cluster: the one place lexir imports Ray and says what to do when it is missing or unreachable."""

from __future__ import annotations

import logging
from types import ModuleType

from lexir.errors import LexirError

EXTRA = "pip install 'lexir[distributed]'"


def import_ray() -> ModuleType:
    """The `ray` module, or a one-line error naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise LexirError(f"--ray needs Ray, which is not installed; install the distributed extra: {EXTRA}") from None
    return ray


def connect(address: str) -> ModuleType:
    """Join the cluster at `address` (host:port of its head, ray://..., or `auto`: the cluster `ray start` runs on
    this machine or RAY_ADDRESS names); `local` starts a private one-machine cluster instead. Returns `ray`.

    Ray's own logging shows errors only (Ray Data's none: the errors of its tasks come back to lexir as exceptions,
    said in one line when they are lexir's), and Ray Data's progress bars are off: the build shows its own. Blocks are
    as small as Ray allows, one row each: Ray Data would otherwise merge a read task's rows (lexir's chunks) into
    large blocks, each then encoded by one actor alone.
    """
    ray = import_ray()
    if not address.strip():
        raise LexirError("--ray needs an address: auto, local, or the head's host:port")
    if not ray.is_initialized():
        try:
            ray.init(address=None if address == "local" else address, log_to_driver=False,
                     logging_level=logging.ERROR, configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise LexirError(f"cannot join the Ray cluster at {address!r}: {first} (start one with `ray start "
                             "--head`, or give --ray local)") from None
    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.CRITICAL)  # a failed task's error reaches lexir, which says it
    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.target_max_block_size = 1
    return ray


def found_lexir_error(error: BaseException) -> LexirError | None:
    """The LexirError a remote task or actor raised, found in the chain Ray wraps it in (None if there is none)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, LexirError) and type(current).__module__.startswith("lexir"):
            # lexir's own class, not Ray's wrapper of it (whose message holds a traceback); Ray Data appends lines
            # about its retries to the message, and lexir's messages are one line: the first is lexir's
            current.args = tuple(str(current).splitlines()[:1]) if len(current.args) == 1 else current.args
            return current
        seen.add(id(current))
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return None
