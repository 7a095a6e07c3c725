"""Training on several processes at once, one per GPU, as PyTorch's launcher ``torchrun`` starts them.

``torchrun --nproc_per_node=N script.py`` starts N copies of a script and tells each one, in environment
variables, who it is (``RANK`` of ``WORLD_SIZE``, ``LOCAL_RANK`` on its machine) and where to meet the others
(``MASTER_ADDR``, ``MASTER_PORT``). :func:`setup` joins them into one process group (NCCL between GPUs, Gloo
between CPUs), and ``vitlib.train.fit`` notices the group and trains data-parallel:

* every process draws the same global batch (the epoch's order from the seed), augments and mixes all of it
  with the same random draws, and keeps its own share: rows ``rank * B / N`` to ``(rank + 1) * B / N``. So the
  images of a step are exactly those of one process with the same seed, only split.
* ``DistributedDataParallel`` averages the gradients over the processes during the backward pass. Each
  process's loss is the mean over its share, and the shares are equal, so the average is the gradient of the
  mean over the global batch: every process takes the single-process step.
* sums measured on a share (training loss and accuracy, validation) are added up over the processes.
* only the main process (rank 0) shows progress, runs callbacks and writes checkpoints and results.

Dropout is the exception: each process draws the masks of its own share (seeded by the step and its rank),
so a model with dropout takes a different, equally likely path than on one process.

Without a process group (a notebook, a plain ``python`` run) every function here is the single-process case:
rank 0 of 1, batches kept whole, sums left as they are.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Subset

from .device import resolve_device
from .evaluate import evaluate

__all__ = [
    "TIMEOUT", "launched", "setup", "teardown", "rank", "world_size", "is_main", "main_first", "check_same",
    "check_shares", "share", "sum_over_processes", "broadcast_flag", "wrap", "evaluate_shared",
]

TIMEOUT = timedelta(minutes=10)  # how long a collective waits for a process that does not come before failing


LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")  # what torchrun sets for every process


def launched() -> bool:
    """Whether this process was started by ``torchrun`` (or another launcher that sets ``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR`` and ``MASTER_PORT``). Some of them set without the others is an error that names what is
    missing: a half-described launch must not quietly train as a single process."""
    present = [name for name in LAUNCHER_VARIABLES if name in os.environ]
    if not present:
        return False
    missing = [name for name in LAUNCHER_VARIABLES if name not in os.environ]
    if missing:
        raise ValueError(f"the environment sets {', '.join(present)} but not {', '.join(missing)}: a launcher such "
                         "as torchrun sets all four; start the run with torchrun, or unset "
                         f"{', '.join(present)} to train as a single process")
    for name in ("RANK", "WORLD_SIZE"):
        value = os.environ[name]
        if not value.isdigit() or (name == "WORLD_SIZE" and int(value) < 1):
            raise ValueError(f"{name} must be a whole number{' >= 1' if name == 'WORLD_SIZE' else ''}, got {value!r}")
    if int(os.environ["RANK"]) >= int(os.environ["WORLD_SIZE"]):
        raise ValueError(f"RANK={os.environ['RANK']} must be below WORLD_SIZE={os.environ['WORLD_SIZE']}")
    return True


def setup(device=None, timeout: timedelta = TIMEOUT) -> torch.device:
    """Join the process group that the launcher described in the environment, if any, and return this
    process's device: ``cuda:LOCAL_RANK`` on CUDA (one GPU per process, made the current one), otherwise
    ``device`` itself. Backend: NCCL on CUDA, Gloo on a CPU. Without a launcher, just the device."""
    device = resolve_device(device)
    if not launched() or (dist.is_available() and dist.is_initialized()):
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", 0))
        if local >= torch.cuda.device_count():
            raise ValueError(f"process {local} of this machine needs GPU {local}, but the machine has "
                             f"{torch.cuda.device_count()}; start at most that many processes per machine "
                             "(torchrun --nproc_per_node)")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    elif device.type != "cpu" and int(os.environ["WORLD_SIZE"]) > 1:
        raise ValueError(f"several processes train on CUDA GPUs or on CPUs, not on {device.type!r}; "
                         "choose the device 'cuda' or 'cpu'")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return device


def teardown() -> None:
    """Leave the process group, if this process joined one (safe to call in a ``finally``)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    """This process's number among all processes of the run: 0 without a process group."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """How many processes train together: 1 without a process group."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """Whether this is the process that shows progress and writes files (rank 0)."""
    return rank() == 0


@contextlib.contextmanager
def main_first():
    """Run the ``with`` block in the first process of each machine (``LOCAL_RANK`` 0) before the others, e.g.
    to load a dataset that is downloaded into the machine's cache the first time, once and not N times."""
    first = int(os.environ.get("LOCAL_RANK", 0)) == 0
    if world_size() > 1 and not first:
        dist.barrier()  # wait until the first has passed the block
    yield
    if world_size() > 1 and first:
        dist.barrier()


def check_same(value: int, what: str, device) -> None:
    """Raise a ValueError in every process unless all processes hold the same ``value`` (e.g. the step a run
    continues from, which differs when some machines do not see the checkpoint)."""
    if world_size() == 1:
        return
    extremes = torch.tensor([value, -value], dtype=torch.int64, device=device)  # (max, -min) once reduced
    dist.all_reduce(extremes, op=dist.ReduceOp.MAX)
    high, low = extremes[0].item(), -extremes[1].item()
    if high != low:
        raise ValueError(f"the processes do not agree on {what} (from {low} to {high}): does every machine see the "
                         "same checkpoint? Give the checkpoint a path on a file system all machines share, or copy "
                         "it to the same path on each before continuing")


def check_shares(batch_size: int, num_items: int, processes: int | None = None) -> None:
    """Raise a ValueError unless a global batch (``batch_size`` items, or all ``num_items`` when there are
    fewer) splits into equal shares over the processes (equal shares make the averaged gradient the
    gradient of the global batch)."""
    processes = world_size() if processes is None else processes
    batch = min(batch_size, num_items)
    if batch % processes:
        fits = -(-batch // processes) * processes
        whole = f"batch_size={batch_size}" if batch == batch_size else f"all {num_items} items (fewer than batch_size)"
        raise ValueError(f"the global batch, {whole}, does not split evenly over {processes} processes; batch_size "
                         f"is the batch of the whole run, so choose a multiple of {processes}, e.g. {fits}")


def share(batch: torch.Tensor, rank_: int | None = None, processes: int | None = None) -> torch.Tensor:
    """Process ``rank_``'s share of a global batch ``(B, ...)``: its rows ``rank_ * B / N`` to
    ``(rank_ + 1) * B / N``; the whole batch for one process."""
    rank_ = rank() if rank_ is None else rank_
    processes = world_size() if processes is None else processes
    if processes == 1:
        return batch
    size = len(batch) // processes  # (B / N)
    return batch[rank_ * size : (rank_ + 1) * size]


def sum_over_processes(values: torch.Tensor) -> torch.Tensor:
    """``values`` added up over all processes (a new tensor, the same on each); ``values`` itself for one."""
    if world_size() == 1:
        return values
    total = values.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def broadcast_flag(flag: bool, device) -> bool:
    """The main process's ``flag``, in every process (so that all stop at the same step)."""
    if world_size() == 1:
        return bool(flag)
    value = torch.tensor(int(bool(flag)), device=device)
    dist.broadcast(value, src=0)
    return bool(value.item())


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` as the training forward of this process: itself for one process, otherwise inside
    ``DistributedDataParallel`` (which starts every process from the main one's weights and averages the
    gradients). BatchNorm layers become ``SyncBatchNorm`` on CUDA, so their batch statistics are those of the
    global batch (the same parameters and buffers, in place); on CPUs, which ``SyncBatchNorm`` does not
    support, a warning says that each process normalises by its own share."""
    if world_size() == 1:
        return model
    device = torch.device(device)
    has_batch_norm = any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in model.modules())
    if has_batch_norm and device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    elif has_batch_norm:
        warnings.warn(f"{type(model).__name__} has BatchNorm layers, and on CPUs each process normalises by "
                      "the statistics of its own share of the batch, so the run differs a little from one "
                      "process's; on CUDA they are synchronised (SyncBatchNorm)", stacklevel=2)
    device_ids = None
    if device.type == "cuda":
        device_ids = [device.index if device.index is not None else torch.cuda.current_device()]
    return DistributedDataParallel(model, device_ids=device_ids)


def evaluate_shared(model, dataset, batch_size: int = 256, device=None) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` on ``dataset``, unaugmented (``vitlib.evaluate.evaluate``), each
    process evaluating every ``N``-th item from its rank on and the sums added up over the processes."""
    processes = world_size()
    if processes == 1:
        result = evaluate(model, dataset, batch_size=batch_size, device=device)
        return result.loss, result.accuracy
    device = torch.device(device) if device is not None else next(model.parameters()).device
    indices = torch.arange(rank(), len(dataset), processes)  # (n,) this process's items
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, correct, items
    if len(indices):
        part = dataset.subset(indices) if hasattr(dataset, "subset") else Subset(dataset, indices.tolist())
        result = evaluate(model, part, batch_size=batch_size, device=device)
        correct = (result.predictions == result.labels).sum().item()
        sums = torch.tensor([result.loss * len(indices), correct, len(indices)], dtype=torch.float64, device=device)
    loss, correct, items = sum_over_processes(sums).tolist()
    return loss / items, correct / items
