"""``report.json`` + ``report.md`` + ``report.png`` (CONTRACT §5): per precision mAP, parity, latency, size."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import cv2

from deploy.checkpoint import LoadedCheckpoint
from deploy.export import tool_versions
from deploy.measure import evaluate_map, progress_bar, time_interleaved
from deploy.parity import max_abs_diff


def bundle_size(bundle: Path) -> int:
    m = json.loads((bundle / "model.json").read_text())
    return sum((bundle / m[k]).stat().st_size for k in ("param", "bin"))


def build_report(ck: LoadedCheckpoint, bundles: dict[str, Path], opt: Any, eval_ds: Path | None,
                 parity_images: list[Path], info: dict[str, Any], say=print) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    for prec, b in bundles.items():
        rows[prec] = {"bundle": b.name, "size_bytes": bundle_size(b)}
    say(f"      parity vs PyTorch at {list(opt.parity_sizes)} on {len(parity_images)} images")
    for prec, b in bundles.items():
        rows[prec]["max_abs_diff"] = max_abs_diff(ck.model, b, parity_images, tuple(opt.parity_sizes), opt.threads)
    if eval_ds is not None:
        for prec, b in bundles.items():
            rows[prec]["map"] = evaluate_map(b, eval_ds, opt.size, opt.threads, progress=progress_bar(f"eval {prec}"))
            say(f"      {prec}: mAP@.5:.95={rows[prec]['map']['map50_95']:.4f} mAP@.5={rows[prec]['map']['map50']:.4f}")
    baselines: dict[str, dict[str, Any]] = {}
    for ref in opt.baselines:
        from edgecam.bundles.resolver import resolve  # noqa: PLC0415

        bb = resolve(ref)
        baselines[ref] = {"size_bytes": bb.param_path.stat().st_size + bb.bin_path.stat().st_size,
                          "precision": bb.manifest.precision}
        if eval_ds is not None:
            baselines[ref]["map"] = evaluate_map(ref, eval_ds, opt.size, opt.threads, progress=progress_bar(f"eval {ref}"))
    image = cv2.imread(str(parity_images[0]))
    timed = time_interleaved({**bundles, **{k: k for k in baselines}}, image, opt.size, opt.threads,
                             rounds=opt.bench_rounds)
    for k, t in timed.items():
        (rows.get(k) or baselines[k])["latency"] = t
    report = {
        "name": info["name"], "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "weights": info["weights"],
        "input_size": opt.size, "eval_dataset": str(eval_ds) if eval_ds else None,
        "host": {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                 "threads": opt.threads}, "tools": tool_versions(),
        "precisions": rows, "baselines": baselines,
        "calibration": info.get("calibration"), "search": info.get("search"),
        "latency_method": "forward pass only, interleaved rounds (A B C A B C …), median of all samples",
    }
    out = Path(opt.out)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    plot = write_plot(report, out / "report.png")
    (out / "report.md").write_text(render_markdown(report, plot))
    say(f"      wrote {out / 'report.json'}, {out / 'report.md'}" + (f", {plot}" if plot else ""))
    return report


def _fmt_map(r: dict) -> str:
    m = r.get("map")
    return f"{m['map50_95']:.4f} | {m['map50']:.4f}" if m else "– | –"


def render_markdown(rep: dict[str, Any], plot: Path | None) -> str:
    lines = [f"# Deploy report: {rep['name']}", "",
             f"Weights `{rep['weights']}`, input {rep['input_size']}, evaluated on `{rep['eval_dataset']}` "
             f"({rep['created']}). Tools: " + ", ".join(f"{k} {v}" for k, v in rep["tools"].items()) + ".", "",
             "| precision | bundle | mAP@.5:.95 | mAP@.5 | max abs Δ vs PyTorch | latency median (ms) | size (MB) |",
             "|---|---|---|---|---|---|---|"]
    for prec, r in rep["precisions"].items():
        diff = r.get("max_abs_diff", {})
        d = ", ".join(f"{k}: {v:.2e}" for k, v in diff.items() if k != "max")
        lat = r.get("latency", {}).get("median_ms")
        lines.append(f"| {prec} | `{r['bundle']}` | {_fmt_map(r)} | {d} | "
                     f"{lat:.1f} | {r['size_bytes'] / 1e6:.2f} |" if lat is not None else
                     f"| {prec} | `{r['bundle']}` | {_fmt_map(r)} | {d} | – | {r['size_bytes'] / 1e6:.2f} |")
    for name, r in rep.get("baselines", {}).items():
        lat = r.get("latency", {}).get("median_ms", float("nan"))
        lines.append(f"| {r['precision']} (baseline) | `{name}` | {_fmt_map(r)} | – | {lat:.1f} | {r['size_bytes'] / 1e6:.2f} |")
    lines += ["", f"Latency: {rep['latency_method']}; host {rep['host']['processor']}, {rep['host']['threads']} threads.",
              "Parity: raw head outputs (logits) on the same preprocessed input, ncnn with fp16 storage/arithmetic off; "
              "fp16/int8 differences are their storage/quantization error, not conversion error."]
    cal = rep.get("calibration")
    if cal:
        lines += ["", "## int8 calibration", "",
                  f"Method **{cal['method']}** on {cal['images']} images at {cal['size']} with the manifest's preprocessing "
                  f"(pixel {cal['preprocessing']['pixel']}, mean {cal['preprocessing']['mean']}, norm "
                  f"{[round(x, 6) for x in cal['preprocessing']['norm']]}, letterbox pad {cal['preprocessing']['letterbox_pad']}). "
                  f"{cal['int8_layers']} int8 layers ({cal['requantize_fused']} with fused requantize); "
                  f"kept in fp32: {', '.join(f'`{x}`' for x in cal['fp32_layers']) or 'none'}. Table: `{cal['table']}`."]
    s = rep.get("search")
    if s:
        lines += _search_lines(s)
    if plot:
        lines += ["", f"![latency vs mAP]({plot.name})"]
    return "\n".join(lines) + "\n"


def _search_lines(s: dict[str, Any]) -> list[str]:
    folds = list(s["fp32_val"])
    fp32 = ", ".join(f"fold {k}: {v['map50_95']:.4f} on {v['images']} images" for k, v in s["fp32_val"].items())
    lines = ["", "## Mixed-precision search", "",
             "Each fold calibrates on one half of the calibration images and validates on the other half "
             f"(Δ = candidate − fp32 on that fold's validation images). fp32 mAP@.5:.95 — {fp32}. "
             f"Budget {s['budget']:.4f}: a candidate {s['rule']}. Search time {s.get('seconds', 0):.0f} s.", "",
             "| method | fp32 layers | # | " + " | ".join(f"fold {f} mAP@.5:.95 (Δ)" for f in folds)
             + " | mean Δ | worst Δ | fused | meets budget |",
             "|---|---|---|" + "---|" * len(folds) + "---|---|---|---|"]
    chosen = s.get("chosen") or {}
    for c in s["candidates"]:
        is_chosen = (c["method"], c["fp32_layers"]) == (chosen.get("method"), chosen.get("fp32_layers"))
        mark = " **(chosen)**" if is_chosen else ""
        per_fold = " | ".join(f"{f['map50_95']:.4f} ({f['delta']:+.4f})" for f in c["folds"])
        lines.append(f"| {c['method']} | {c['label']}{mark} | {len(c['fp32_layers'])} | {per_fold} | "
                     f"{c['mean_delta']:+.4f} | {c['worst_delta']:+.4f} | {c['fused']} | "
                     f"{'yes' if c['meets_budget'] else 'no'} |")
    for method, ranked in s.get("sensitivity", {}).items():
        lines.append(f"\nSensitivity ranking ({method}, most sensitive first): " + ", ".join(f"`{x}`" for x in ranked[:16])
                     + (" …" if len(ranked) > 16 else ""))
    return lines


def add_timing(out: Path, timing: dict[str, Any]) -> None:
    """Record the run's wall-clock times (known only after the report) in report.json and report.md."""
    path = Path(out) / "report.json"
    rep = json.loads(path.read_text())
    rep["timing"] = timing
    path.write_text(json.dumps(rep, indent=2) + "\n")
    md = Path(out) / "report.md"
    times = ", ".join(f"{k.removesuffix('_seconds').replace('_', ' ')} {v:.0f} s" for k, v in timing.items())
    md.write_text(md.read_text() + f"\nWall-clock: {times}.\n")


def write_plot(rep: dict[str, Any], path: Path) -> Path | None:
    """Latency vs mAP@.5:.95, one point per precision, marker area ∝ file size."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    pts = [(k, r) for k, r in rep["precisions"].items() if r.get("map") and r.get("latency")]
    pts += [(f"{k} (baseline)", r) for k, r in rep.get("baselines", {}).items() if r.get("map") and r.get("latency")]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    colors = {"fp32": "tab:blue", "fp16": "tab:green", "int8": "tab:red"}
    for label, r in pts:
        x, y = r["latency"]["median_ms"], r["map"]["map50_95"]
        mb = r["size_bytes"] / 1e6
        ax.scatter([x], [y], s=40 + 60 * mb, alpha=0.7, color=colors.get(label, "tab:gray"), edgecolors="black")
        ax.annotate(f"{label}\n{mb:.1f} MB", (x, y), textcoords="offset points", xytext=(8, 4), fontsize=8)
    ax.set_xlabel(f"forward latency, median (ms) @ {rep['input_size']}")
    ax.set_ylabel("mAP@.5:.95")
    ax.set_title(f"{rep['name']}: latency vs accuracy (marker area ∝ size)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
