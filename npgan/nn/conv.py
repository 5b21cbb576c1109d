"""Convolution layers: Conv2d and ConvTranspose2d (as ``torch.nn``), each calling one function
of :mod:`npgan.functions.conv`.

Initialised as in PyTorch: W and b uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)]
(kaiming_uniform with a = sqrt(5)), fan_in = weight.shape[1] kh kw: (in/groups) kh kw
for Conv2d, (out/groups) kh kw for ConvTranspose2d, whose weight is (in, out/groups, kh, kw).
"""
import math

from npgan import random as nprandom
from npgan.functions import conv
from npgan.nn.module import Module, Parameter


def _positive(value, what, layer):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer}: {what} must be a positive int, got {value!r}")


class _ConvNd(Module):
    """What the two layers share: settings, parameters, initialisation, repr and input check."""

    transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 output_padding, groups, bias, dtype):
        super().__init__()
        layer = type(self).__name__
        _positive(in_channels, "in_channels", layer)
        _positive(out_channels, "out_channels", layer)
        _positive(groups, "groups", layer)
        for what, n in (("in_channels", in_channels), ("out_channels", out_channels)):
            if n % groups:
                raise ValueError(f"{layer}: groups={groups} must divide {what}={n}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = conv._pair(kernel_size, "kernel_size", layer, 1)
        self.stride = conv._pair(stride, "stride", layer, 1)
        self.padding = conv._pair(padding, "padding", layer, 0)
        self.dilation = conv._pair(dilation, "dilation", layer, 1)
        self.output_padding = conv._pair(output_padding, "output_padding", layer, 0)
        if self.transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        bound = 1 / math.sqrt(shape[1] * shape[2] * shape[3])  # 1 / sqrt(fan_in)
        self.weight = Parameter(nprandom.uniform(-bound, bound, shape, dtype).data)
        self.bias = (Parameter(nprandom.uniform(-bound, bound, (out_channels,), dtype).data)
                     if bias else None)
        if self.transposed:  # checked now, not at the first forward
            conv.check_output_padding(self.output_padding, self.stride, self.dilation,
                                      self._name())

    def _name(self):
        """How errors name the layer: ``Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))``."""
        return f"{type(self).__name__}({self.extra_repr()})"

    def _check_input(self, x):
        """A clear error, naming the layer, for an input that is not (N, in_channels, H, W)."""
        if x.ndim != 4:
            raise ValueError(f"{self._name()}: expected a 4-D input (N, {self.in_channels}, H, W), "
                             f"got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{self._name()}: expected input with {self.in_channels} channels, "
                             f"got shape {tuple(x.shape)}")

    def extra_repr(self):
        """PyTorch's: the settings that differ from the defaults."""
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """y = conv2d(x, W) + b, W of shape (out_channels, in_channels/groups, kh, kw).

    Input (N, in_channels, H, W), output (N, out_channels, OH, OW) with
    OH = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, 0,
                         groups, bias, dtype)

    def forward(self, x):
        self._check_input(x)
        return conv._conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                            self.groups, self._name())


class ConvTranspose2d(_ConvNd):
    """y = conv_transpose2d(x, W) + b, W of shape (in_channels, out_channels/groups, kh, kw):
    the input-gradient of a Conv2d with these settings (a "fractionally strided" convolution
    that upsamples by ``stride``).

    Input (N, in_channels, H, W), output (N, out_channels, H_out, W_out) with
    H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1.
    """

    transposed = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         output_padding, groups, bias, dtype)

    def forward(self, x):
        self._check_input(x)
        return conv._conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                      self.output_padding, self.groups, self.dilation,
                                      self._name())
