"""Our PyTorch definitions of the ShuffleNetV2-YOLOv5 ("YOLOv5-Lite") blocks, and a model built from a yaml dict.

Written from the architecture the checkpoints describe (module names, attribute names and the
parameter layout their ``state_dict`` keys imply), so that a checkpoint's weights load with
``strict=True``.  No code from the upstream repository is used or needed.

The :class:`Detect` head returns the **raw per-level conv outputs** ``(N, na*(5+nc), gh, gw)``: that
keeps the exported graph free of size-dependent constants (grids, anchor grids), so one ncnn model
runs at any multiple-of-32 size.  Decoding happens in numpy (``edgecam.detectors.yolo``), with the
anchors/strides written into the bundle manifest.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

# Activation classes a checkpoint may use; the builder takes the class the checkpoint's modules carry.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "ReLU": nn.ReLU,
    "ReLU6": nn.ReLU6,
    "SiLU": nn.SiLU,
    "Hardswish": nn.Hardswish,
    "LeakyReLU": nn.LeakyReLU,
}


def autopad(k: int, p: int | None = None) -> int:
    return k // 2 if p is None else p


def make_divisible(x: float, divisor: int = 8) -> int:
    return int(math.ceil(x / divisor) * divisor)


class Conv(nn.Module):
    """conv (no bias) → BatchNorm → activation."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1,
                 act: Callable[[], nn.Module] | bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p), groups=g, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        if act is True:
            self.act: nn.Module = _default_act()
        elif act is False or act is None:
            self.act = nn.Identity()
        else:
            self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_, c2, 3, 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP bottleneck with three convs."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5) -> None:
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), dim=1))


class Concat(nn.Module):
    def __init__(self, dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)


class Focus(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1) -> None:
        super().__init__()
        self.conv = Conv(c1 * 4, c2, k, s, p, g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]], 1))


class SPPF(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 5) -> None:
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class conv_bn_relu_maxpool(nn.Module):  # noqa: N801 - the checkpoint's class name
    """Stem: 3x3/2 conv → BN → activation → 3x3/2 max-pool."""

    def __init__(self, c1: int, c2: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(c1, c2, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            _default_act(),
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.conv(x))


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(b, c, h, w)


class Shuffle_Block(nn.Module):  # noqa: N801 - the checkpoint's class name
    """ShuffleNetV2 unit: split (stride 1) or two strided branches (stride 2), concat, channel shuffle."""

    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        if not 1 <= stride <= 3:
            raise ValueError(f"Shuffle_Block: illegal stride {stride}")
        self.stride = stride
        bf = oup // 2
        if stride == 1 and inp != bf * 2:
            raise ValueError(f"Shuffle_Block: stride 1 needs inp == oup (got {inp} → {oup})")
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, bf, 1, 1, 0, bias=False),
                nn.BatchNorm2d(bf),
                _default_act(),
            )
        self.branch2 = nn.Sequential(
            nn.Conv2d(inp if stride > 1 else bf, bf, 1, 1, 0, bias=False),
            nn.BatchNorm2d(bf),
            _default_act(),
            nn.Conv2d(bf, bf, 3, stride, 1, groups=bf, bias=False),
            nn.BatchNorm2d(bf),
            nn.Conv2d(bf, bf, 1, 1, 0, bias=False),
            nn.BatchNorm2d(bf),
            _default_act(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class Detect(nn.Module):
    """YOLOv5 head: one 1x1 conv per level.  ``forward`` returns the raw maps (no decode)."""

    def __init__(self, nc: int = 80, anchors: list[list[float]] | tuple = (), ch: list[int] | tuple = ()) -> None:
        super().__init__()
        self.nc = nc
        self.no = nc + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        a = torch.tensor(anchors, dtype=torch.float32).view(self.nl, -1, 2)
        self.register_buffer("anchors", a)  # in grid units once divided by the stride (see Model)
        self.register_buffer("anchor_grid", a.clone().view(self.nl, 1, -1, 1, 1, 2))
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
        self.stride = torch.zeros(self.nl)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        return [self.m[i](x[i]) for i in range(self.nl)]


# The activation the block constructors use; set by build_model for the checkpoint being rebuilt.
_ACT: list[type[nn.Module]] = [nn.ReLU]


def _default_act() -> nn.Module:
    cls = _ACT[0]
    return cls(inplace=True) if cls in (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.LeakyReLU) else cls()


# Names a yaml may use → our classes.  Anything else in a yaml is refused.
MODULES: dict[str, type[nn.Module]] = {
    "Conv": Conv,
    "Bottleneck": Bottleneck,
    "C3": C3,
    "Concat": Concat,
    "Focus": Focus,
    "SPPF": SPPF,
    "conv_bn_relu_maxpool": conv_bn_relu_maxpool,
    "Shuffle_Block": Shuffle_Block,
    "Detect": Detect,
    "nn.Upsample": nn.Upsample,
}
_CHANNEL_MODULES = (Conv, Bottleneck, C3, Focus, SPPF, conv_bn_relu_maxpool, Shuffle_Block)


class Model(nn.Module):
    """The layer list of a YOLOv5-style yaml; ``forward`` returns the Detect head's raw outputs."""

    def __init__(self, cfg: dict[str, Any], act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.yaml = cfg
        previous = _ACT[0]
        _ACT[0] = act
        try:
            self.model, self.save = _parse_model(cfg, ch=[int(cfg.get("ch", 3))])
        finally:
            _ACT[0] = previous
        self.names = [str(i) for i in range(int(cfg["nc"]))]
        self.stride = torch.zeros(0)

    @property
    def detect(self) -> Detect:
        head = self.model[-1]
        assert isinstance(head, Detect)
        return head

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        y: list[torch.Tensor | None] = []
        for m in self.model:
            if m.f != -1:
                x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
            x = m(x)
            y.append(x if m.i in self.save else None)
        return x


def _eval_arg(a: Any, cfg: dict[str, Any]) -> Any:
    """The yaml's string args: only a few literal names are accepted (never ``eval``)."""
    if isinstance(a, str):
        if a == "None":
            return None
        if a in ("True", "False"):
            return a == "True"
        if a in ("nc", "anchors"):
            return cfg[a]
        if a in ("nearest", "bilinear"):
            return a
        raise ValueError(f"unsupported yaml argument {a!r}")
    return a


def _parse_model(cfg: dict[str, Any], ch: list[int]) -> tuple[nn.Sequential, list[int]]:
    nc, gd, gw = int(cfg["nc"]), float(cfg["depth_multiple"]), float(cfg["width_multiple"])
    anchors = cfg["anchors"]
    na = len(anchors[0]) // 2 if isinstance(anchors, list) else int(anchors)
    no = na * (nc + 5)
    layers: list[nn.Module] = []
    save: list[int] = []
    c2 = ch[-1]
    for i, (f, n, mname, args) in enumerate(cfg["backbone"] + cfg["head"]):
        if mname not in MODULES:
            raise ValueError(f"layer {i}: unsupported module {mname!r}; supported: {', '.join(sorted(MODULES))}")
        m = MODULES[mname]
        args = [_eval_arg(a, cfg) for a in args]
        n = max(round(n * gd), 1) if n > 1 else n
        if m in _CHANNEL_MODULES:
            c1, c2 = ch[f], args[0]
            if c2 != no:
                c2 = make_divisible(c2 * gw, 8)
            args = [c1, c2, *args[1:]]
            if m is C3:
                args.insert(2, n)
                n = 1
        elif m is Concat:
            c2 = sum(ch[x] for x in f)
        elif m is Detect:
            args.append([ch[x] for x in f])
            if isinstance(args[1], int):
                args[1] = [list(range(args[1] * 2))] * len(f)
        else:
            c2 = ch[f]
        module = nn.Sequential(*(m(*args) for _ in range(n))) if n > 1 else m(*args)
        module.i, module.f, module.type = i, f, mname  # type: ignore[assignment]
        save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
        layers.append(module)
        if i == 0:
            ch = []
        ch.append(c2)
    return nn.Sequential(*layers), sorted(save)
