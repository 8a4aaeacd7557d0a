import math

import numpy as np
from hypothesis import given, settings, strategies as st

from edgecam.bundles.manifest import HeadSpec
from edgecam.detectors.yolo import box_iou, decode, nms

NC = 3
NO = 5 + NC
HEADS = [
    HeadSpec("p3", 8, ((4, 5), (8, 10), (13, 16))),
    HeadSpec("p4", 16, ((23, 29), (43, 55), (73, 105))),
    HeadSpec("p5", 32, ((146, 217), (231, 300), (335, 433))),
]


def logit(p):
    return math.log(p / (1 - p))


def empty_outputs(w, h, layout="a_hw_c"):
    outs = []
    for head in HEADS:
        gh, gw = h // head.stride, w // head.stride
        outs.append(np.full((3, gh * gw, NO), -20.0, np.float32))
    return outs


def test_single_cell_decodes_to_the_yolov5_formula():
    w, h = 320, 256
    outs = empty_outputs(w, h)
    # head p4 (stride 16), anchor 1, cell gx=5, gy=3
    gw = w // 16
    row = outs[1][1, 3 * gw + 5]
    row[0:4] = [logit(0.5), logit(0.75), logit(0.5), logit(0.25)]
    row[4] = logit(0.9)
    row[5:] = [logit(0.1), logit(0.8), logit(0.2)]
    c = decode(outs, HEADS, w, h, conf=0.25)
    assert len(c.scores) == 1
    assert c.class_ids[0] == 1
    assert c.scores[0] == np.float32(0.9 * 0.8) or abs(c.scores[0] - 0.72) < 1e-5
    cx = (0.5 * 2 - 0.5 + 5) * 16
    cy = (0.75 * 2 - 0.5 + 3) * 16
    bw = (0.5 * 2) ** 2 * 43
    bh = (0.25 * 2) ** 2 * 55
    np.testing.assert_allclose(c.boxes[0], [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], rtol=1e-5)


def test_chw_layout_matches_permuted_layout():
    rng = np.random.default_rng(0)
    w, h = 256, 192
    outs = [rng.normal(-3, 2, o.shape).astype(np.float32) for o in empty_outputs(w, h)]
    chw_heads = [HeadSpec(hd.blob, hd.stride, hd.anchors, "chw") for hd in HEADS]
    chw = []
    for o, hd in zip(outs, HEADS):
        gh, gw = h // hd.stride, w // hd.stride
        chw.append(np.ascontiguousarray(o.transpose(0, 2, 1)).reshape(3 * NO, gh, gw))
    a = decode(outs, HEADS, w, h, conf=0.1)
    b = decode(chw, chw_heads, w, h, conf=0.1)
    assert len(a.scores) > 10
    np.testing.assert_array_equal(a.class_ids, b.class_ids)
    np.testing.assert_allclose(a.boxes, b.boxes)


def test_class_mask_and_multi_label():
    w, h = 64, 64
    outs = empty_outputs(w, h)
    row = outs[0][0, 0]
    row[4] = logit(0.99)
    row[5:] = [logit(0.9), logit(0.6), logit(0.01)]
    assert list(decode(outs, HEADS, w, h, 0.5).class_ids) == [0]
    assert sorted(decode(outs, HEADS, w, h, 0.5, multi_label=True).class_ids) == [0, 1]
    mask = np.array([0, 1, 1], np.float32)
    assert list(decode(outs, HEADS, w, h, 0.5, class_mask=mask).class_ids) == [1]


def test_nms_is_class_aware():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    same = nms(boxes, scores, np.array([0, 0, 0]), 0.5)
    assert list(same) == [0]
    diff = nms(boxes, scores, np.array([0, 0, 1]), 0.5)
    assert sorted(diff) == [0, 2]


def reference_nms(boxes, scores, ids, thr):
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []
    for i in order:
        ok = True
        for k in keep:
            if ids[k] == ids[i] and box_iou(boxes[i : i + 1], boxes[k : k + 1])[0, 0] > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 60), seed=st.integers(0, 10_000), thr=st.floats(0.1, 0.9), max_det=st.integers(1, 70))
def test_nms_matches_plain_greedy_reference(n, seed, thr, max_det):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, (n, 2))
    wh = rng.uniform(5, 40, (n, 2))
    boxes = np.concatenate([xy, xy + wh], 1).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / max(n, 1) + 0.01  # distinct scores
    ids = rng.integers(0, 3, n)
    got = nms(boxes, scores, ids, thr, max_det=max_det)
    assert list(got) == reference_nms(boxes, scores, ids, thr)[:max_det]
