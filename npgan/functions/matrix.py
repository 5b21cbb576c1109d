"""Matrix products: ``matmul`` (numpy's rules, batched) and ``linear``, the layer's x W^T + b.

Each with its backward rule beneath it; ``da = gy @ b^T, db = a^T @ gy``.
"""
from npgan import speed
from npgan.autograd import Function
from npgan.functions.helpers import apply, as_tensors
from npgan.functions.shapes import Transpose, reduce_to, reshape


def _swap_last(x):
    """``x`` with its last two axes swapped (the matrix transpose of a batch)."""
    if x.ndim == 2:
        return x.T
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return apply(Transpose(tuple(axes)), x)  # an array or, under create_graph, a Tensor


class MatMul(Function):
    """y = a @ b (2-D or batched);  da = gy @ b^T, db = a^T @ gy."""

    float_operands_only = True

    def forward(self, a, b):
        return a @ b

    def backward(self, gy, a, b, y):
        return (reduce_to(gy @ _swap_last(b), a) if self.needs[0] else None,
                reduce_to(_swap_last(a) @ gy, b) if self.needs[1] else None)


def matmul(a, b):
    """Matrix product with numpy's rules (1-D operands are promoted and squeezed)."""
    a, b = as_tensors(a, b, promote_dtypes=False)  # int data with float weights: refused
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
            f"{a.shape[-1]} (last dim of a) != {k_b} ({'second-to-last' if b.ndim > 1 else 'only'} dim of b)")
    if a.ndim == 1:
        out_shape = b.shape[:-2] + b.shape[-1:] if b.ndim > 1 else ()  # 1-D @ 1-D: a scalar
        return reshape(matmul(reshape(a, (1,) + a.shape), b), out_shape)
    if b.ndim == 1:
        return reshape(matmul(a, reshape(b, b.shape + (1,))), a.shape[:-1])
    return MatMul()(a, b)


class Linear(Function):
    """y = x W^T + b, x of shape (N, in), W (out, in), b (out,).

    dx = gy W,  dW = gy^T x,  db = sum_n gy.
    """

    float_operands_only = True

    def forward(self, x, W, b=None):
        y = speed.matmul_2d(x, W.T)  # x @ W.T
        if b is not None:
            y += b  # in place: saves one temporary of the output's size
        return y

    def backward(self, gy, x, W, *rest):
        b = rest[0] if len(rest) == 2 else None
        gx = speed.matmul_2d(gy, W) if self.needs[0] else None     # gy @ W
        gW = speed.matmul_2d(gy.T, x) if self.needs[1] else None   # gy.T @ x
        if b is None:
            return gx, gW
        gb = gy.sum(axis=0) if self.needs[2] else None
        return gx, gW, gb


def linear(x, weight, bias=None):
    """The affine map ``x @ weight.T + bias`` (weight of shape (out, in), as in PyTorch).

    ``x`` may have any number of leading dimensions; the last must equal ``in``.
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape}; "
            f"the input's last dimension must be in_features={weight.shape[1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(
            f"linear: bias of shape {bias.shape} does not fit weight of shape {weight.shape}; "
            f"expected ({weight.shape[0]},)")
    args = (x, weight) if bias is None else (x, weight, bias)
    if x.ndim == 2:
        return Linear()(*args)
    lead = x.shape[:-1]
    y = Linear()(reshape(x, (-1, x.shape[-1])), *args[1:])
    return reshape(y, lead + (weight.shape[0],))
