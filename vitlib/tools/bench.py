"""How fast does a ViT train and predict on this machine? ``python -m vitlib.tools.bench``.

On synthetic data already on the device (random uint8 images, normalised, and random labels), so only
the model is timed, it measures:

* training throughput: images per second of a full step as ``vitlib.train.fit`` takes it
  (``vitlib.train.train_step``: forward, cross-entropy with label smoothing, backward, gradient clipping,
  AdamW step; bf16 autocast on CUDA, and on a CPU with ``--bf16``), at a constant learning rate;
* inference throughput: images per second of a forward pass without gradients (``model.eval()``);
* augmentation throughput: images per second of what ``fit`` does to a batch before the step
  (``vitlib.train.StepAugmenter``: the augmentation, and MixUp/CutMix when the recipe has them), which must
  stay well above the training throughput; the recipe is the profile's (``--profile``, default the one
  in force) unless ``--augment``, ``--mixup`` or ``--cutmix`` say otherwise;
* where the time of one training step goes: the attention sub-layers (LayerNorm and attention, forward and
  backward, every block), the MLP sub-layers (the same), the optimiser (clipping and AdamW), the rest of
  the step (embedding, head, loss), the augmentation, and the evaluation after each epoch spread over the
  epoch's steps (for the profile's dataset, whose sizes are read from it when it is bundled);
* the FLOPs of one step, counted once by ``torch.utils.flop_counter.FlopCounterMode`` (forward and
  backward; matrix products only), the TFLOP/s achieved and, where the card's dense bf16 tensor-core
  peak is known, the share of it (model FLOPs utilisation).

Example::

    python -m vitlib.tools.bench --variant course-small --image-size 32 --batch-size 256 --steps 50 --warmup 10

It prints a small table and writes ``results/bench-<device>.json`` (``--out`` to change) with the
command, machine, torch version, git commit, time, config and figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..augment import AUGMENTATIONS
from ..checkpoint import check_writable
from ..checks import non_negative_int, pair, positive_int, positive_number
from ..data import FractalDataset, TensorImageDataset, load_dataset
from ..device import autocast, resolve_device, synchronize
from ..model import VARIANTS, ViT, ViTConfig, vit_config
from ..optim import make_optimizer
from ..profile import PROFILES, current_profile, get_profile
from ..train import StepAugmenter, TrainConfig, train_step
from .options import add_model_option, cpu_threads, model_options
from .record import device_name, run_record, write_json

__all__ = ["main", "count_flops", "peak_tflops", "seconds_of", "measure", "step_parts", "breakdown_of", "PEAK_BF16_TFLOPS"]

# Dense (no 2:4 sparsity) bf16 tensor-core peaks in TFLOP/s; the first key found as whole words in
# torch.cuda.get_device_name() wins, so the specific names come first ("NVIDIA H100 80GB HBM3" is the
# SXM card). NVIDIA's datasheets print the figures with sparsity, twice the dense ones: H100 SXM 1,979
# and H100 PCIe 1,513 (NVIDIA H100 Tensor Core GPU datasheet), H200 SXM 1,979 (H200 datasheet),
# A100 624 (A100 datasheet; 312 dense), L4 242 (L4 datasheet). H100 NVL and H200 NVL: 1,671 with
# sparsity (NVIDIA's product pages; not re-checked). A10G: AWS's variant of the A10, with no NVIDIA
# datasheet; 70 is the figure commonly quoted (e.g. Baseten, "NVIDIA A10 vs A10G for ML model
# inference"); treat it as approximate.
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),
    ("H200 NVL", 835.0),
    ("H200", 989.0),
    ("A100", 312.0),
    ("A10G", 70.0),
    ("L4", 121.0),
)


def peak_tflops(card: str) -> float | None:
    """The dense bf16 peak of a CUDA card from :data:`PEAK_BF16_TFLOPS`, or None if it is not listed."""
    for key, peak in PEAK_BF16_TFLOPS:
        if re.search(rf"\b{re.escape(key)}\b", card, flags=re.IGNORECASE):
            return peak
    return None


def count_flops(config: ViTConfig, batch_size: int) -> tuple[int, int]:
    """FLOPs of a forward pass and of a training step (forward + backward) on a batch ``(B, C, H, W)``.

    Counted on the meta device (no memory, no arithmetic) with the hand-written attention: FlopCounterMode
    has no formula for the fused CPU attention kernel, and the hand-written one performs the same two
    batched matrix products (``Q K^T`` and ``A V``) that its formula for the fused CUDA kernels counts,
    so the figure is the same on every device.
    """
    with torch.device("meta"):
        model = ViT(dataclasses.replace(config, fused_attn=False))
        images = torch.empty(batch_size, config.in_channels, *pair(config.image_size, "image_size"))
        labels = torch.zeros(batch_size, dtype=torch.int64)
    with FlopCounterMode(display=False) as forward_counter, torch.no_grad():
        model(images)
    with FlopCounterMode(display=False) as step_counter:
        F.cross_entropy(model(images).float(), labels).backward()
    return forward_counter.get_total_flops(), step_counter.get_total_flops()


def seconds_of(step, steps: int, warmup: int, device: torch.device) -> float:
    """Wall-clock seconds of ``steps`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return time.perf_counter() - start


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vitlib.tools.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--variant", default="course-small", help=f"model variant, one of: {', '.join(VARIANTS)}")
    parser.add_argument("--image-size", type=int, help="override the variant's image size")
    parser.add_argument("--patch-size", type=int, help="override the variant's patch size")
    add_model_option(parser, "stride=4 pool=mean")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50, help="timed steps (default 50)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps before them (default 10)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (compiles in the warm-up)")
    parser.add_argument("--profile", choices=PROFILES, help="whose training recipe to time (default: the one in force)")
    parser.add_argument("--augment", choices=["auto", *AUGMENTATIONS],
                        help="augmentation to time (default: the profile's; auto: as for the data, photo for colour "
                             "images, digits for grey ones)")
    parser.add_argument("--mixup", type=float, help="MixUp's alpha (default: the profile's)")
    parser.add_argument("--cutmix", type=float, help="CutMix's alpha (default: the profile's)")
    parser.add_argument("--device", help="cuda, mps or cpu (default: the best available)")
    parser.add_argument("--bf16", action="store_true",
                        help="bf16 autocast on a CPU too (CUDA always uses it); fast only on a CPU with bf16 "
                             "instructions (AVX512-BF16 or AMX)")
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s, for a card not in the table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", help="JSON file to write (default: results/bench-<device>.json)")
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark with command-line arguments ``argv`` (default ``sys.argv[1:]``); return the result."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    args = parser.parse_args(argv)
    try:  # every number checked before anything is built
        for name, check in (("batch_size", positive_int), ("steps", positive_int), ("warmup", non_negative_int)):
            check(getattr(args, name), f"--{name.replace('_', '-')}")
        for name, check in (("threads", positive_int), ("peak_tflops", positive_number)):
            if getattr(args, name) is not None:
                check(getattr(args, name), f"--{name.replace('_', '-')}")
        overrides = {k: v for k, v in (("image_size", args.image_size), ("patch_size", args.patch_size)) if v is not None}
        config = vit_config(args.variant, **{**model_options(args.model_option), **overrides})
        recipe = training_recipe(args)
        device = resolve_device(args.device)
        if args.bf16 and device.type == "mps":
            raise ValueError("--bf16 is for a CPU (CUDA always uses bf16 autocast); on mps the step runs in float32")
        out = check_writable(args.out or f"results/bench-{device.type}.json", "--out")
    except (ValueError, TypeError, RuntimeError) as error:
        parser.error(str(error))
    cpu_bf16 = args.bf16 and device.type == "cpu"
    # everything measured under the autocast fit would run with
    with cpu_threads(args.threads), torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16):
        result = {**run_record("vitlib.tools.bench", argv, device), **measure(args, config, recipe, device)}
    write_json(out, result)
    _print_table(result, out)
    return result


def training_recipe(args: argparse.Namespace) -> TrainConfig:
    """The profile's training recipe (``--profile``, default the one in force), with the command line's
    ``--augment``, ``--mixup`` and ``--cutmix``."""
    profile = get_profile(args.profile) if args.profile else current_profile()
    return TrainConfig(
        augment=args.augment or profile.augment,
        mixup=profile.mixup if args.mixup is None else args.mixup,
        cutmix=profile.cutmix if args.cutmix is None else args.cutmix,
        seed=args.seed,
    )


def synthetic_batch(config: ViTConfig, batch_size: int, seed: int) -> TensorImageDataset:
    """``batch_size`` random uint8 images of the model's size with random labels; grey images are of the
    ``"digits"`` kind, colour ones ``"photo"`` (which decides the ``"auto"`` augmentation)."""
    generator = torch.Generator().manual_seed(seed)
    K = config.num_classes
    raw = torch.randint(0, 256, (batch_size, config.in_channels, *pair(config.image_size, "image_size")),
                        dtype=torch.uint8, generator=generator)  # (B, C, H, W)
    labels = torch.randint(0, K, (batch_size,), generator=generator)
    return TensorImageDataset(raw, labels, [str(k) for k in range(K)],
                              kind="digits" if config.in_channels == 1 else "photo")


def cpu_features() -> dict:
    """The vector instructions torch's CPU kernels use here, and whether oneDNN has native bf16 on this CPU
    (without it, bf16 matrix products are emulated and slower than float32)."""
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch built without oneDNN: unknown
        native = None
    return {"capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": native}


def peak_of(args: argparse.Namespace, device: torch.device, name: str) -> tuple[float | None, str | None]:
    """The device's peak TFLOP/s and where the figure comes from (the command line or the table)."""
    if args.peak_tflops is not None:
        return args.peak_tflops, "--peak-tflops"
    if device.type == "cuda":
        peak = peak_tflops(name)
        return peak, "table (dense bf16 tensor cores)" if peak is not None else None
    return None, None


def measure(args: argparse.Namespace, config: ViTConfig, recipe: TrainConfig, device: torch.device) -> dict:
    """Build the model and a synthetic batch on ``device``, count the FLOPs, time training, inference,
    the step's augmentation and the rendering of dataset A."""
    torch.manual_seed(args.seed)
    model = ViT(config).to(device)
    optimizer = make_optimizer(model, recipe.lr, recipe.weight_decay, device)
    forward = torch.compile(model) if args.compile else model
    B = args.batch_size
    data = synthetic_batch(config, B, args.seed).to(device)
    images, labels = data.batch(torch.arange(B, device=device))  # (B, C, H, W) normalised, (B,)

    def step() -> None:
        train_step(forward, model, optimizer, images, labels, recipe, device)

    def inference_step() -> None:
        with torch.no_grad(), autocast(device, recipe.amp):
            forward(images)

    forward_flops, step_flops = count_flops(config, B)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    first_step_seconds = seconds_of(step, 1, 0, device)  # with --compile: the compilation of the training step
    train_seconds = seconds_of(step, args.steps, args.warmup, device)
    peak_memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    model.eval()
    inference_seconds = seconds_of(inference_step, args.steps, args.warmup, device)

    augmenter = StepAugmenter(data, recipe, config.num_classes, device)  # what fit does before each step
    steps = iter(range(10**9))
    augment_seconds = seconds_of(lambda: augmenter(images, labels, next(steps)), args.steps, min(args.warmup, 2), device)

    # dataset A is generated on the fly: can it keep up with training?
    fractals = FractalDataset(num_classes=100, per_class=10_000, image_size=config.image_size,
                              channels=3 if config.in_channels == 3 else 1)
    starts = iter(range(0, len(fractals), B))  # a new batch of images every call
    render_steps = max(1, min(args.steps, 5))

    def render_step() -> None:
        start = next(starts)
        fractals.render(range(start, start + B), device)

    render_seconds = seconds_of(render_step, render_steps, 1, device)
    peak, peak_source = peak_of(args, device, device_name(device))
    model.train()
    parts = step_parts(model, optimizer, images, recipe, device, args.steps, args.warmup)
    breakdown = breakdown_of(parts, 1e3 * train_seconds / args.steps, 1e3 * augment_seconds / args.steps,
                             1e3 * inference_seconds / args.steps / B, args, B)

    def figures(seconds: float, flops: int) -> dict:
        tflops = flops * args.steps / seconds / 1e12
        return {
            "images_per_s": B * args.steps / seconds,
            "ms_per_batch": 1e3 * seconds / args.steps,
            "flops_per_batch": flops,
            "tflops": tflops,
            "share_of_peak": tflops / peak if peak else None,
        }

    return {
        "config": {
            "variant": args.variant, "model": dataclasses.asdict(config), "batch_size": B, "steps": args.steps,
            "warmup": args.warmup, "compile": args.compile, "bf16_autocast": device.type == "cuda" or args.bf16, "seed": args.seed,
        },
        "cpu": cpu_features() if device.type == "cpu" else None,
        "parameters": sum(p.numel() for p in model.parameters()),
        "peak_tflops": peak,
        "peak_source": peak_source,
        "train": {**figures(train_seconds, step_flops), "peak_memory_gib": peak_memory,
                  "first_step_seconds": first_step_seconds},
        "inference": figures(inference_seconds, forward_flops),
        "augment": {"kind": augmenter.kind, "mixup": recipe.mixup, "cutmix": recipe.cutmix,
                    "images_per_s": B * args.steps / augment_seconds},
        "fractal_render": {"images_per_s": B * render_steps / render_seconds, "batches": render_steps},
        "step_breakdown_ms": breakdown,
    }


def step_parts(model: ViT, optimizer, images: torch.Tensor, recipe: TrainConfig, device: torch.device,
               steps: int, warmup: int) -> dict:
    """Milliseconds per batch of the parts of a training step, each timed on its own: every block's attention
    sub-layer (norm1 and attention) and MLP sub-layer (norm2 and MLP), forward and backward, on the tokens the
    embedding makes of ``images``; and the optimiser (gradient clipping and the AdamW step)."""
    with torch.no_grad():
        tokens = model.embed(images)  # (B, T, D)

    def sublayers(pick) -> None:
        for block in model.blocks:
            x = tokens.detach().requires_grad_()
            with autocast(device, recipe.amp):
                out = pick(block, x)  # (B, T, D)
            out.float().sum().backward()

    def optimiser() -> None:
        if recipe.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
        optimizer.step()

    timed = {
        "attention": lambda: sublayers(lambda block, x: block.attn(block.norm1(x))),
        "mlp": lambda: sublayers(lambda block, x: block.mlp(block.norm2(x))),
        "optimiser": optimiser,
    }
    return {name: 1e3 * seconds_of(fn, steps, warmup, device) / steps for name, fn in timed.items()}


def breakdown_of(parts: dict, step_ms: float, augment_ms: float, eval_ms_per_image: float,
                 args: argparse.Namespace, batch_size: int) -> dict:
    """The step's milliseconds by part; ``rest`` is what the timed parts leave of the whole step (embedding,
    head, loss, and the framework's own work). The parts are timed alone, each with its own backward pass, so on
    a small model their sum can exceed the whole step, and ``rest`` is then negative: read the parts as shares. ``evaluation`` is the profile's validation pass after every epoch,
    per training step, when the profile's dataset is bundled (its sizes known without a download)."""
    profile = get_profile(args.profile) if args.profile else current_profile()
    breakdown = {**parts, "rest": step_ms - sum(parts.values()), "augmentation": augment_ms}
    if profile.train_data == "digits":
        train_images, val_images = len(load_dataset("digits", "train")), len(load_dataset("digits", "val"))
        steps_per_epoch = max(1, train_images // batch_size)
        breakdown["evaluation"] = eval_ms_per_image * val_images / steps_per_epoch
    breakdown["total"] = step_ms + augment_ms + breakdown.get("evaluation", 0.0)
    return breakdown


def _print_table(result: dict, out: Path) -> None:
    c = result["config"]
    print(f"{c['variant']} ({result['parameters'] / 1e6:.2f}M parameters), batch {c['batch_size']}, "
          f"{c['steps']} timed steps after {c['warmup']}{', compiled' if c['compile'] else ''}")
    print(f"on {result['device']}: {result['device_name']}, CPU threads: {result['cpu_threads']}, "
          f"torch {result['torch']}{', bf16 autocast' if c['bf16_autocast'] else ''}")
    if result["cpu"] is not None:
        print(f"CPU instructions: {result['cpu']['capability']}, native bf16: {result['cpu']['native_bf16']}")
    print(f"{'':<10} {'images/s':>10} {'ms/batch':>10} {'GFLOP/batch':>12} {'TFLOP/s':>9} {'of peak':>8}")
    for kind in ("train", "inference"):
        r = result[kind]
        share = f"{100 * r['share_of_peak']:.1f}%" if r["share_of_peak"] is not None else "n/a"
        print(f"{kind:<10} {r['images_per_s']:>10.1f} {r['ms_per_batch']:>10.2f} "
              f"{r['flops_per_batch'] / 1e9:>12.3f} {r['tflops']:>9.4f} {share:>8}")
    print(f"first training step: {result['train']['first_step_seconds']:.1f} s"
          f"{' (compiling it)' if c['compile'] else ''}")
    print(f"augmentation {result['augment']['kind']!r}: {result['augment']['images_per_s']:.0f} images/s on {result['device']}")
    parts = result["step_breakdown_ms"]
    print("one training step, ms: " + ", ".join(f"{name} {ms:.1f} ({ms / parts['total']:.0%})"
                                                for name, ms in parts.items() if name != "total")
          + f"; total {parts['total']:.1f} (the parts timed alone; rest = the step minus them)")
    print(f"dataset A (fractals) rendered at {result['fractal_render']['images_per_s']:.0f} images/s on {result['device']}")
    if result["peak_tflops"] is not None:
        print(f"peak: {result['peak_tflops']:g} TFLOP/s ({result['peak_source']})")
    elif result["device"] == "cuda":
        print(f"peak of {result['device_name']!r} unknown: pass --peak-tflops for a share of peak")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
