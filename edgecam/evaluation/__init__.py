"""Accuracy (COCO mAP) and speed (benchmarks) measurement."""
