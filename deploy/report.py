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
from deploy.measure import effective_threads, evaluate_map, progress_bar, time_interleaved
from deploy.parity import max_abs_diff


def bundle_size(bundle: Path) -> int:
    m = json.loads((bundle / "model.json").read_text())
    return sum((bundle / m[k]).stat().st_size for k in ("param", "bin"))


def _resolve_baselines(refs: tuple[str, ...], say) -> dict[str, dict[str, Any]]:
    from edgecam.bundles.resolver import resolve  # noqa: PLC0415
    from edgecam.errors import ModelError  # noqa: PLC0415

    out: dict[str, dict[str, Any]] = {}
    for ref in refs:
        try:
            bb = resolve(ref)
        except (ModelError, OSError) as exc:
            say(f"      baseline {ref} skipped: {exc}")
            continue
        out[ref] = {"size_bytes": bb.param_path.stat().st_size + bb.bin_path.stat().st_size,
                    "precision": bb.manifest.precision}
    return out


def build_report(ck: LoadedCheckpoint, bundles: dict[str, Path], opt: Any, eval_ds: Path | None,
                 parity_images: list[Path], info: dict[str, Any], say=print, plan: Any = None) -> dict[str, Any]:
    threads = effective_threads(opt.threads)
    rows: dict[str, dict[str, Any]] = {}
    for prec, b in bundles.items():
        rows[prec] = {"bundle": b.name, "size_bytes": bundle_size(b)}
    say(f"      parity vs PyTorch at {list(opt.parity_sizes)} on {len(parity_images)} images")
    for prec, b in bundles.items():
        rows[prec]["max_abs_diff"] = max_abs_diff(ck.model, b, parity_images, tuple(opt.parity_sizes), threads)
    baselines = _resolve_baselines(tuple(opt.baselines), say)
    if eval_ds is not None:
        for prec, b in bundles.items():
            rows[prec]["map"] = evaluate_map(b, eval_ds, opt.size, threads, progress=progress_bar(f"eval {prec}"))
            say(f"      {prec}: mAP@.5:.95={rows[prec]['map']['map50_95']:.4f} mAP@.5={rows[prec]['map']['map50']:.4f}")
        for ref in baselines:
            baselines[ref]["map"] = evaluate_map(ref, eval_ds, opt.size, threads, progress=progress_bar(f"eval {ref}"))
    test = None
    if plan is not None and plan.test and plan.labels is not None:
        from deploy.holdout import held_out_test  # noqa: PLC0415

        say(f"      held-out test split: {len(plan.test)} images never used for calibration or selection")
        test = held_out_test({**bundles, **{k: k for k in baselines}}, plan.test, plan.labels, tuple(opt.sizes),
                             threads, opt.level, max(opt.bootstrap, 200), say)
    image = cv2.imread(str(parity_images[0]))
    lat_sizes = list(dict.fromkeys([opt.size, *opt.sizes]))
    for size in lat_sizes:
        timed = time_interleaved({**bundles, **{k: k for k in baselines}}, image, size, threads,
                                 rounds=opt.bench_rounds)
        for k, t in timed.items():
            r = rows.get(k) or baselines[k]
            r.setdefault("latency_by_size", {})[str(size)] = t
            if size == opt.size:
                r["latency"] = t
    report = {
        "name": info["name"], "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "weights": info["weights"],
        "input_size": opt.size, "sizes": list(opt.sizes), "eval_dataset": str(eval_ds) if eval_ds else None,
        "host": {"machine": platform.machine(), "processor": platform.processor() or platform.machine(),
                 "threads": threads}, "tools": tool_versions(),
        "precisions": rows, "baselines": baselines, "splits": info.get("splits"), "test": test,
        "calibration": info.get("calibration"), "search": info.get("search"),
        "latency_method": "forward pass only, interleaved rounds (A B C A B C …), median of all samples",
    }
    out = Path(opt.out)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    plot = write_plot(report, out / "report.png")
    from deploy.report_md import render_markdown  # noqa: PLC0415

    (out / "report.md").write_text(render_markdown(report, plot))
    say(f"      wrote {out / 'report.json'}, {out / 'report.md'}" + (f", {plot}" if plot else ""))
    return report


def add_timing(out: Path, timing: dict[str, Any]) -> None:
    """Record the run's wall-clock times (known only after the report) in report.json and report.md."""
    path = Path(out) / "report.json"
    rep = json.loads(path.read_text())
    rep["timing"] = timing
    path.write_text(json.dumps(rep, indent=2) + "\n")
    md = Path(out) / "report.md"
    times = ", ".join(f"{k.removesuffix('_seconds').replace('_', ' ')} {v:.0f} s" for k, v in timing.items())
    md.write_text(md.read_text() + f"\nWall-clock: {times}.\n")


def _plot_panels(rep: dict[str, Any]) -> list[tuple[str, list[tuple[str, float, float, float]]]]:
    """(title, [(label, latency ms, mAP, MB)]) per panel: held-out mAP per size, else the eval set's."""
    models = {**rep["precisions"], **{f"{k} (baseline)": r for k, r in rep.get("baselines", {}).items()}}
    keys = {**{k: k for k in rep["precisions"]}, **{f"{k} (baseline)": k for k in rep.get("baselines", {})}}
    panels = []
    test = rep.get("test")
    if test:
        for size, res in test["sizes"].items():
            pts = [(lab, r["latency_by_size"][size]["median_ms"], res[keys[lab]]["map50_95"], r["size_bytes"] / 1e6)
                   for lab, r in models.items() if keys[lab] in res and size in r.get("latency_by_size", {})]
            panels.append((f"held-out test @{size} ({test['images']} images)", pts))
    else:
        pts = [(lab, r["latency"]["median_ms"], r["map"]["map50_95"], r["size_bytes"] / 1e6)
               for lab, r in models.items() if r.get("map") and r.get("latency")]
        panels.append((f"eval set @{rep['input_size']}", pts))
    return [(t, p) for t, p in panels if p]


def write_plot(rep: dict[str, Any], path: Path) -> Path | None:
    """Latency vs mAP@.5:.95, one panel per size, one point per model, marker area ∝ file size."""
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    panels = _plot_panels(rep)
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 4.6), dpi=120, squeeze=False)
    colors = {"fp32": "tab:blue", "fp16": "tab:green", "int8": "tab:red"}
    others = iter(["tab:gray", "tab:purple", "tab:brown", "tab:olive", "tab:cyan"])
    for label, *_ in panels[0][1]:
        if label not in colors:
            colors[label] = next(others, "black")
    for ax, (title, pts) in zip(axes[0], panels):
        for label, x, y, mb in pts:
            ax.scatter([x], [y], s=40 + 60 * mb, alpha=0.7, color=colors.get(label, "black"), edgecolors="black",
                       marker="s" if "baseline" in label else "o", label=f"{label}, {mb:.1f} MB")
        ax.margins(x=0.15, y=0.15)
        ax.set_xlabel("forward latency, median (ms)")
        ax.set_ylabel("mAP@.5:.95")
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8, markerscale=0.5,
               frameon=False)
    fig.suptitle(f"{rep['name']}: latency vs accuracy (marker area ∝ file size; "
                 f"{rep['host']['machine']}, {rep['host']['threads']} threads)", fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 1))  # the legend sits below the panels, the title above: no overlap
    fig.savefig(path)
    plt.close(fig)
    return path
