"""Workstation conversion pipeline: YOLOv5-Lite ``.pt`` → ONNX → ncnn fp32/fp16 → calibrated int8 bundles.

Run as ``python -m deploy`` from the repository root (``make models`` / ``make push``); see deploy/README.md.
Needs the extra requirements in ``deploy/requirements.txt`` (torch, onnx, onnxslim, pnnx) — never on the Pi.
"""
