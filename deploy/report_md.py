"""``report.md``: the report.json of :mod:`deploy.report` as Markdown tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt_map(r: dict) -> str:
    m = r.get("map")
    return f"{m['map50_95']:.4f} | {m['map50']:.4f}" if m else "– | –"


def _lat(r: dict, size: str | None = None) -> str:
    t = r.get("latency_by_size", {}).get(size) if size else r.get("latency")
    return f"{t['median_ms']:.1f}" if t else "–"


def render_markdown(rep: dict[str, Any], plot: Path | None) -> str:
    lines = [f"# Deploy report: {rep['name']}", "",
             f"Weights `{rep['weights']}`, input {rep['input_size']}, evaluated on `{rep['eval_dataset']}` "
             f"({rep['created']}). Tools: " + ", ".join(f"{k} {v}" for k, v in rep["tools"].items()) + ".", "",
             "| precision | bundle | mAP@.5:.95 | mAP@.5 | max abs Δ vs PyTorch | latency median (ms) | size (MB) |",
             "|---|---|---|---|---|---|---|"]
    for prec, r in rep["precisions"].items():
        d = ", ".join(f"{k}: {v:.2e}" for k, v in r.get("max_abs_diff", {}).items() if k != "max")
        lines.append(f"| {prec} | `{r['bundle']}` | {_fmt_map(r)} | {d} | {_lat(r)} | {r['size_bytes'] / 1e6:.2f} |")
    for name, r in rep.get("baselines", {}).items():
        lines.append(f"| {r['precision']} (baseline) | `{name}` | {_fmt_map(r)} | – | {_lat(r)} | "
                     f"{r['size_bytes'] / 1e6:.2f} |")
    lines += ["", f"Latency: {rep['latency_method']}; host {rep['host']['processor']}, {rep['host']['threads']} threads. "
              "Measured on this workstation, not on a Pi: it shows x86 ratios only (ARM int8/fp16 kernels differ).",
              "Parity: raw head outputs (logits) on the same preprocessed input, ncnn with fp16 storage/arithmetic off; "
              "fp16/int8 differences are their storage/quantization error, not conversion error."]
    if rep.get("eval_dataset") and rep.get("splits", {}) and rep["splits"].get("counts", {}).get("calibrate"):
        lines.append("The whole-set mAP above includes the images used for calibration and selection; "
                     "the held-out section below does not.")
    lines += _split_lines(rep.get("splits"))
    lines += _test_lines(rep)
    cal = rep.get("calibration")
    if cal:
        lines += ["", "## int8 calibration", "",
                  f"Method **{cal['method']}** on {cal['images']} images at {cal.get('sizes', [cal['size']])} with the "
                  f"manifest's preprocessing (pixel {cal['preprocessing']['pixel']}, mean {cal['preprocessing']['mean']}, "
                  f"norm {[round(x, 6) for x in cal['preprocessing']['norm']]}, letterbox pad "
                  f"{cal['preprocessing']['letterbox_pad']}). {cal['int8_layers']} int8 layers "
                  f"({cal['requantize_fused']} with fused requantize); kept in fp32: "
                  f"{', '.join(f'`{x}`' for x in cal['fp32_layers']) or 'none'}. Table: `{cal['table']}`."]
        bc = cal.get("bias_correction")
        if bc:
            how = ("weight rounding only, b − (W̃ − W)·E[x] with the fp32 input means" if bc.get("kind") == "weights"
                   else "measured one layer at a time on the int8 net, every layer int8")
            lines += ["", f"Bias correction (`+bc`, {how}) of {bc['layers']} convs, from the first {bc['images']} "
                          f"calibration images at {bc['sizes']}; the int8 layers use it (mean |shift| "
                          f"{bc['mean_abs_shift']:.4f}). It is in the `.bin`; the `.table` (ncnn2table format) has no bias."]
    if rep.get("search"):
        lines += _search_lines(rep["search"])
    if plot:
        lines += ["", f"![latency vs mAP]({plot.name})"]
    return "\n".join(lines) + "\n"


def _split_lines(sp: dict[str, Any] | None) -> list[str]:
    if not sp:
        return []
    c = sp["counts"]
    how = {"cross-fit": "the non-test labelled images, cross-fitted: each fold calibrates on half of them and scores "
                        "the other half, so every selection score comes from a candidate not calibrated on that image",
           "separate": "a separate labelled selection set; calibration used only the calibration folder",
           "unlabelled": "no labelled images: no selection and no test split"}[sp["layout"]]
    return ["", "## Images", "",
            f"{c['calibrate']} images calibrate the shipped int8; {c['select']} labelled images select among the "
            f"candidates ({how}); {c['test']} labelled images are the held-out test split, used by neither."]


def _test_lines(rep: dict[str, Any]) -> list[str]:
    t = rep.get("test")
    if not t:
        return []
    lvl = f"{t['level']:.0%}"
    models = {**{k: k for k in rep["precisions"]}, **{k: f"{k} (baseline)" for k in rep.get("baselines", {})}}
    sizes = list(t["sizes"])
    lines = ["", "## Held-out test split", "",
             f"{t['images']} labelled images never used for calibration or selection. Δ = model − our fp32 on the same "
             f"images; [{lvl} interval] from {t['samples']} paired bootstrap resamples of the images. The interval "
             "covers the draw of images, not the rounding luck of one int8 build: on coco128, scaling every "
             "activation scale by ±0.1–0.2 % moved an int8 Δ on these images by up to 1.5 points (deploy/README.md).", "",
             "| model | " + " | ".join(f"mAP@.5:.95 @{s} | Δ vs fp32 @{s} [{lvl}] | latency @{s} (ms)" for s in sizes) + " |",
             "|---|" + "---|---|---|" * len(sizes)]
    for key, label in models.items():
        cells = []
        for s in sizes:
            r = t["sizes"][s].get(key)
            src = rep["precisions"].get(key) or rep["baselines"].get(key, {})
            if r is None:
                cells.append("– | – | –")
                continue
            d = r.get("delta")
            dtxt = f"{d['delta']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]" if d else "(reference)"
            cells.append(f"{r['map50_95']:.4f} | {dtxt} | {_lat(src, s)}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _search_lines(s: dict[str, Any]) -> list[str]:
    sizes = list(s["fp32"])
    fp32 = ", ".join(f"@{k}: {v['map50_95']:.4f} on {v['images']} images" for k, v in s["fp32"].items())
    lvl = f"{s['level']:.0%}"
    lines = ["", "## Mixed-precision search", "",
             "Each candidate is scored on selection images it was not calibrated on, at every size "
             "(`+bc`: with bias correction, computed once per method and fold from that fold's calibration images) "
             f"(Δ = candidate − fp32 on the same images; lower bound = the one-sided {lvl} paired-bootstrap bound on Δ). "
             f"fp32 mAP@.5:.95 {fp32}. Budget {s['budget']:.4f}: a candidate {s['rule']}. "
             f"Search time {s.get('seconds', 0):.0f} s.", "",
             "| method | fp32 layers | # | " + " | ".join(f"@{z} mAP (Δ) | @{z} lower bound" for z in sizes)
             + " | fused | meets budget |",
             "|---|---|---|" + "---|---|" * len(sizes) + "---|---|"]
    chosen = s.get("chosen") or {}
    for c in s["candidates"]:
        is_chosen = (c["method"], c["fp32_layers"]) == (chosen.get("method"), chosen.get("fp32_layers"))
        mark = " **(chosen)**" if is_chosen else ""
        per = " | ".join(f"{z['map50_95']:.4f} ({z['interval']['delta']:+.4f}) | {z['interval']['lcb']:+.4f}"
                         for z in c["sizes"])
        lines.append(f"| {c['method']} | {c['label']}{mark} | {len(c['fp32_layers'])} | {per} | {c['fused']} | "
                     f"{'yes' if c['meets_budget'] else 'no'} |")
    for method, ranked in s.get("sensitivity", {}).items():
        lines.append(f"\nSensitivity ranking ({method}, most sensitive first): " + ", ".join(f"`{x}`" for x in ranked[:16])
                     + (" …" if len(ranked) > 16 else ""))
    return lines
