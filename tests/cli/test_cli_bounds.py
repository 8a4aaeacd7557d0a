"""Numbers on the command line: out of range is one usage line (exit 2) before ncnn or OpenCV sees them.

``--size 99968`` and ``--threads 100000`` used to segfault inside ncnn, ``--threads 16384`` ran for minutes.
"""

from __future__ import annotations

import argparse
import os

import pytest
from clikit import HORSE, SHARED, assert_usage_error, run_edgecam

from edgecam import cliargs
from edgecam.limits import (MAX_PIXELS_LIMIT, SIZE_MAX, THREADS_MAX, max_pixels_problem, pixels_problem,
                            size_problem, threads_problem)

pytestmark = pytest.mark.slow  # runs the edgecam CLI in subprocesses

DATASET = SHARED / "datasets" / "coco128_train2017"

BAD = [
    ("--size", "99968", "out of range"),
    ("--size", "33", "try 32"),
    ("--size", "0", "out of range"),
    ("--size", "-64", "out of range"),
    ("--size", "abc", "whole number"),
    ("--size", "2080", "2048"),
    ("--threads", "100000", "1 to 64"),
    ("--threads", "16384", "1 to 64"),
    ("--threads", "0", "1 to 64"),
    ("--threads", "1.5", "whole number"),
    ("--conf", "nan", "finite"),
    ("--conf", "4.9e-324", "out of range"),
    ("--conf", "1.5", "out of range"),
    ("--iou", "inf", "finite"),
    ("--iou", "-0.1", "from 0.0 to 1.0"),
    ("--max-pixels", "0", "pixels from 1"),
    ("--max-pixels", str(MAX_PIXELS_LIMIT + 1), "pixels from 1"),
]


@pytest.mark.parametrize("flag,value,needle", BAD, ids=[f"{f}={v}" for f, v, _ in BAD])
def test_detect_refuses_out_of_range_numbers(flag, value, needle):
    line = assert_usage_error(run_edgecam("detect", flag, value, HORSE, timeout=60), flag, needle)
    assert "--help" in line  # the fix: where the valid values are listed


@pytest.mark.parametrize("args,needle", [
    (("--loops", "0"), "--loops"), (("--warmup", "-1"), "--warmup"), (("--threads", "100000"), "--threads"),
    (("--size", "99968"), "--size"), (("--cooldown-timeout", "nan"), "--cooldown-timeout"),
])
def test_bench_refuses_out_of_range_numbers(args, needle):
    assert_usage_error(run_edgecam("bench", *args, timeout=60), needle)


@pytest.mark.parametrize("args,needle", [
    (("--size", "100000"), "--size"), (("--threads", "16384"), "--threads"), (("--conf", "0"), "--conf"),
    (("--iou", "nan"), "--iou"),
])
def test_eval_refuses_out_of_range_numbers(args, needle):
    assert_usage_error(run_edgecam("eval", *args, DATASET, timeout=60), needle)


def test_eval_accepts_the_low_threshold_map_needs():
    assert cliargs.eval_conf("0.001") == 0.001
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.eval_conf("0")


def test_the_bounds_accept_exactly_their_range():
    assert size_problem(32) is None and size_problem(SIZE_MAX) is None and size_problem(640) is None
    assert size_problem(SIZE_MAX + 32) and size_problem(0) and size_problem(True) and size_problem(640.0)
    assert threads_problem(1) is None and threads_problem(THREADS_MAX) is None
    assert threads_problem(THREADS_MAX + 1) and threads_problem(0) and threads_problem(False)
    assert max_pixels_problem(1) is None and max_pixels_problem(MAX_PIXELS_LIMIT) is None
    assert max_pixels_problem(MAX_PIXELS_LIMIT + 1) and max_pixels_problem(0)


def test_pixel_budget_names_the_size_and_the_fix():
    assert pixels_problem(640, 480, 640 * 480) is None
    msg = pixels_problem(30000, 30000, 50_000_000)
    assert "30000×30000" in msg and "900.0 MP" in msg and "--max-pixels" in msg and "max_pixels" in msg
    assert pixels_problem(641, 480, 640 * 480)
    assert pixels_problem(0, 10, 100)
    # the setting can never raise the budget past what ncnn's and OpenCV's int sizes hold
    assert pixels_problem(30000, 30000, 2**40)


def test_bench_json_must_be_a_writable_file_path(tmp_path):
    fifo = tmp_path / "out.json"
    os.mkfifo(fifo)
    assert_usage_error(run_edgecam("bench", "--json", fifo, "--loops", "1", timeout=60), "--json", "not a regular file")
    assert_usage_error(run_edgecam("bench", "--json", tmp_path, "--loops", "1", timeout=60), "--json", "not a regular file")
