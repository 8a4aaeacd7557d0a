"""Detectors: the ncnn backend plus pure preprocessing and YOLO decoding shared by all backends."""
