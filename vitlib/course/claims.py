"""Lesson 08's claims table: each claim of the ViT story, the paper's number for it, what the course's stored
sweeps measured (with the seed-to-seed spread), and a verdict computed from them.

A verdict is ``"agrees"`` or ``"disagrees"`` only when every run behind it converged and every learning-rate
search was bracketed (``vitlib.sweep.cell_status``); otherwise it is ``"undecided at this scale"``, with the
reasons. A measured difference no larger than the seed-to-seed spread counts as "level" (``vitlib.convergence``).

The sizes of dataset A stand in for the paper's pretraining sets by rank, not by size: the smallest A for
ImageNet (1.3 M images), the middle one for ImageNet-21k (14 M), the largest for JFT-300M (303 M).
"""

from __future__ import annotations

from ..convergence import compare
from ..sweep import cell_status

__all__ = ["claims_table", "format_claims", "cell_compare", "VERDICT_WORDS"]

VERDICT_WORDS = ("agrees", "disagrees", "undecided at this scale")


def _values(results: dict, arm: str, size: int) -> dict:
    """``{seed: test accuracy}`` of one cell of a sweep."""
    return {p["seed"]: p["test_acc"] for p in results["points"] if p["arm"] == arm and p["size"] == size}


def _reasons(results: dict, cells) -> list[str]:
    reasons = []
    for arm, size in cells:
        status = cell_status(results, arm, size)
        reasons += [f"{arm} at {size:,}: {why}" for why in status["why"]]
    return reasons


def cell_compare(results: dict, first: str, second: str, size: int) -> dict | None:
    """``vitlib.convergence.compare`` of two arms of a sweep at one size (test accuracy over seeds), undecided
    with the reasons of ``cell_status``; None when either arm has no run there yet."""
    a, b = list(_values(results, first, size).values()), list(_values(results, second, size).values())
    if not a or not b:
        return None
    return compare(a, b, _reasons(results, [(first, size), (second, size)]))


def _row(claim: str, paper: str, source: str, expected: str, measured_as: str, first, second, reasons) -> dict:
    """One row: ``expected`` is the verdict of ``vitlib.convergence.compare`` the claim predicts ("higher",
    "lower" or "level") for ``first`` against ``second``."""
    if not first or not second:
        return {"claim": claim, "paper": paper, "source": source, "measured": "not run yet",
                "verdict": VERDICT_WORDS[2], "why": "; ".join(reasons) or "no runs"}
    result = compare(first, second, reasons)
    measured = f"{measured_as} {result['difference'] * 100:+.1f} points (spread {result['spread'] * 100:.1f})"
    if result["verdict"] == "undecided":
        verdict = VERDICT_WORDS[2]
    else:
        verdict = VERDICT_WORDS[0] if result["verdict"] == expected else VERDICT_WORDS[1]
    why = result["why"] if result["verdict"] == "undecided" else f"measured {result['verdict']}: {result['why']}"
    return {"claim": claim, "paper": paper, "source": source, "measured": measured, "verdict": verdict, "why": why}


def _gap_rows(pretrain: dict, paper: dict) -> list[dict]:
    vit, resnet = pretrain["spec"]["arms"]
    sizes = sorted(s for s in pretrain["spec"]["sizes"] if s > 0)
    small, middle, large = sizes[0], sizes[len(sizes) // 2], sizes[-1]
    by_set = paper["imagenet_top1_by_pretraining_set"]["models"]
    jft = paper["jft_table2"]
    rows = []
    for size, dataset, claim, expected, model in (
            (small, "ImageNet", "pretrained on a small dataset, ViT is worse than ResNet", "lower", "ViT-B/16"),
            (middle, "ImageNet-21k", "on a medium one, about equal", "level", "ViT-L/16")):
        gap = by_set[model][dataset] - by_set["BiT ResNet-152x4"][dataset]
        rows.append(_row(claim, f"{model} - BiT {gap:+.1f} on {dataset}", "ViT paper, Appendix Table 5; BiT, Table 1",
                         expected, f"A = {size:,}: ViT - ResNet",
                         list(_values(pretrain, vit, size).values()), list(_values(pretrain, resnet, size).values()),
                         _reasons(pretrain, [(vit, size), (resnet, size)])))
    table2 = jft["models"]["ViT-H/14"] - jft["models"]["BiT-L ResNet-152x4"]
    table5 = by_set["ViT-H/14"]["JFT-300M"] - by_set["BiT ResNet-152x4"]["JFT-300M"]
    rows.append(_row("on a large one, ViT about a point better",
                     f"ViT-H/14 - BiT-L {table2:+.1f} (Table 2), {table5:+.1f} (Table 5: {jft['why_it_differs']})",
                     "ViT paper, Tables 2 and 5; BiT-L", "higher", f"A = {large:,}: ViT - ResNet",
                     list(_values(pretrain, vit, large).values()), list(_values(pretrain, resnet, large).values()),
                     _reasons(pretrain, [(vit, large), (resnet, large)])))
    # Figure 4: the gain from a medium to the largest pretraining set, per seed (the same draw of B at both sizes)
    gains = {}
    for arm in (vit, resnet):
        at_middle, at_large = _values(pretrain, arm, middle), _values(pretrain, arm, large)
        gains[arm] = [at_large[s] - at_middle[s] for s in sorted(set(at_middle) & set(at_large))]
    rows.append(_row("larger still, better again: ResNet saturates while ViT keeps gaining", paper["figure4"]["reads"],
                     "ViT paper, Figure 4", "higher",
                     f"gain from A = {middle:,} to {large:,}, ViT's - ResNet's", gains[vit], gains[resnet],
                     _reasons(pretrain, [(a, s) for a in (vit, resnet) for s in (middle, large)])))
    return rows


def _scratch_rows(scratch: dict) -> list[dict]:
    vit, resnet = scratch["spec"]["arms"]
    sizes = sorted(scratch["spec"]["sizes"])
    small, large = sizes[0], sizes[-1]
    rows = [_row("from scratch on little data, a convolution's built-in assumptions win",
                 "argued, not measured", "ViT paper, Section 3.1 (inductive bias)",
                 "lower", f"{small:,} digits: ViT - ResNet", list(_values(scratch, vit, small).values()),
                 list(_values(scratch, resnet, small).values()), _reasons(scratch, [(vit, small), (resnet, small)]))]
    # the gap of each seed (both arms train on the same draw of that seed) at the largest against the smallest size
    gaps = {}
    for size in (small, large):
        v, r = _values(scratch, vit, size), _values(scratch, resnet, size)
        gaps[size] = [v[s] - r[s] for s in sorted(set(v) & set(r))]
    rows.append(_row("from scratch, the ViT's gap narrows as the data grows",
                     "ViT's rank rises with the pretraining set", "ViT paper, Figure 3",
                     "higher", f"ViT - ResNet at {large:,} minus at {small:,}", gaps[large], gaps[small],
                     _reasons(scratch, [(a, s) for a in (vit, resnet) for s in (small, large)])))
    return rows


def _position_rows(position: dict, paper: dict) -> list[dict]:
    table8 = paper["position_ablation"]
    accuracy = table8["accuracy"]
    source = f"ViT paper, Table 8 ({table8['metric']})"
    drop = (accuracy["none"] - accuracy["1-D (learned)"]) * 100
    learned = list(_values(position, "learned", 0).values())
    rows = [_row("without a position encoding, about 3 points lower", f"none - 1-D learned {drop:+.1f}", source,
                 "lower", "none - learned", list(_values(position, "none", 0).values()), learned,
                 _reasons(position, [("none", 0), ("learned", 0)]))]
    kinds = [k for k in accuracy if k != "none"]
    between = (max(accuracy[k] for k in kinds) - min(accuracy[k] for k in kinds)) * 100
    for other in ("sincos1d", "sincos2d"):
        if other in position["spec"]["arms"]:
            rows.append(_row("the kind of encoding matters little", f"1-D, 2-D learned and relative within "
                             f"{between:.1f} points", source, "level", f"learned - {other}", learned,
                             list(_values(position, other, 0).values()),
                             _reasons(position, [("learned", 0), (other, 0)])))
    return rows


def claims_table(scratch: dict, pretrain: dict, position: dict, paper: dict) -> list[dict]:
    """The rows of the claims table from the three stored sweeps' results and ``data/paper_results.json``:
    ``{"claim", "paper", "source", "measured", "verdict", "why"}`` each."""
    return [*_gap_rows(pretrain, paper), *_scratch_rows(scratch), *_position_rows(position, paper)]


def format_claims(rows: list[dict]) -> str:
    """The table as text: one block per claim, its verdict first."""
    blocks = []
    for row in rows:
        blocks.append(f"[{row['verdict']}] {row['claim']}\n"
                      f"    paper:    {row['paper']}  ({row['source']})\n"
                      f"    measured: {row['measured']}\n"
                      f"    because:  {row['why']}")
    return "\n".join(blocks)
