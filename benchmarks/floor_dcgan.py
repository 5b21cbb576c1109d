"""The floor of the DCGAN-B step: plain NumPy, channels last, every gradient written out by hand.

The same step as benchmarks/floor.py (D update on a real and a detached fake batch, then a G
update, non-saturating loss from logits, Adam with PyTorch's rule) for the DCGAN-B networks
(c = 64 channels)::

    G: z (N, 100) -> Linear(100, 2c 7 7) -> BatchNorm1d -> ReLU -> unflatten (2c, 7, 7)
         -> ConvTranspose2d(2c, c, 4, 2, 1) -> BatchNorm2d -> ReLU      (14 x 14)
         -> ConvTranspose2d(c, 1, 4, 2, 1) -> Tanh                      (28 x 28)
    D: x (N, 1, 28, 28) -> Conv2d(1, c, 4, 2, 1) -> LeakyReLU(0.2)      (14 x 14)
         -> Conv2d(c, 2c, 4, 2, 1) -> BatchNorm2d -> LeakyReLU(0.2)     (7 x 7)
         -> Flatten -> Linear(2c 7 7, 1)

The layout is NHWC (channels last): an (N, H, W, C) array is also the matrix (N H W, C) whose
rows are pixels, so a convolution is one matrix product of the im2col matrix with the weight,
and batch norm reduces over rows. (The issue measured this step at 93 ms in NHWC against 152
ms in NCHW, where col2im alone took 31%.) Weights are stored in the layout their products
want; :func:`to_floor` and :func:`to_torch` convert PyTorch's (NCHW) state to and from it.

A 4x4 convolution with stride s and padding p, input X padded to Xp (N, Hp, Wp, C)::

    im2col:  cols[n, i, j, a, b, c] = Xp[n, s i + a, s j + b, c]       (N Ho Wo, 16 C)
    forward: Y = cols Wm + b,  Wm[(a, b, c), o] = W[o, c, a, b]         (N Ho Wo, O)
    backward: dWm = cols^T dY,  db = 1^T dY,  dcols = dY Wm^T,
              dXp = col2im(dcols): dXp[n, s i + a, s j + b, c] += dcols[n, i, j, a, b, c]

col2im is 16 strided slice additions (one per tap (a, b)); ``np.add.at`` was measured 1.3-1.8x
slower. A transposed convolution is the same pair run the other way: its forward is a
convolution's input gradient (cols = X Wm, then col2im), its backward a convolution's forward
(im2col of dY, dX = dcols Wm^T, dWm = X^T dcols).

Batch norm (training mode) over the M rows of one batch, per channel::

    mu = 1^T x / M,  var = 1^T (x - mu)^2 / M,  r = 1 / sqrt(var + eps),  xh = (x - mu) r
    y = gamma xh + beta
    dbeta = 1^T dy,  dgamma = 1^T (dy xh),  dx = (gamma r / M) (M dy - dbeta - xh dgamma)

and the running statistics move by momentum 0.1 towards mu and the unbiased M / (M - 1) var.
In the D step D runs once over the 2N stacked rows [x; G(z)], as the MLP floor does (every
product is row by row), but its batch norm takes the statistics of each half apart: the same
numbers as PyTorch's two passes D(x), D(G(z)).

The other pieces: ReLU y = x [x > 0], dy/dx = [x > 0]; LeakyReLU y = x f, f = 1 (x > 0) or 0.2,
dy/dx = f; tanh dy/dx = 1 - y^2; Linear as in floor.py; the loss and Adam as in floor.py.
Every array is allocated once; the step writes into them with ``out=`` and in place.
"""
import math

import numpy as np

from benchmarks.floor import adam_chunks, adam_update

__all__ = ["K", "im2col", "col2im", "FloorDCGAN", "param_shapes", "to_floor", "to_torch"]

K, S, P = 4, 2, 1  # every convolution: kernel 4, stride 2, padding 1


def im2col(xp, cols):
    """cols[n, i, j, a, b, c] = xp[n, S i + a, S j + b, c] for the (N, Ho, Wo, K, K, C) ``cols``."""
    n, ho, wo, _, _, c = cols.shape
    sn, sh, sw, sc = xp.strides
    view = np.lib.stride_tricks.as_strided(xp, (n, ho, wo, K, K, c), (sn, S * sh, S * sw, sh, sw, sc))
    np.copyto(cols, view)


def col2im(cols, xp):
    """xp = 0, then xp[n, S i + a, S j + b, c] += cols[n, i, j, a, b, c]: 16 strided additions."""
    _, ho, wo, _, _, _ = cols.shape
    xp[...] = 0
    for a in range(K):
        for b in range(K):
            xp[:, a:a + S * ho:S, b:b + S * wo:S, :] += cols[:, :, :, a, b, :]


def param_shapes(c, nz=100):
    """{name: PyTorch shape} of G's and D's parameters and batch-norm buffers, in their
    ``state_dict`` order (names as nn.Sequential gives them, prefixed with "G." or "D.")."""
    f = 2 * c * 49
    return {"G.0.weight": (f, nz), "G.0.bias": (f,), "G.1.weight": (f,), "G.1.bias": (f,),
            "G.1.running_mean": (f,), "G.1.running_var": (f,),
            "G.4.weight": (2 * c, c, K, K), "G.4.bias": (c,), "G.5.weight": (c,), "G.5.bias": (c,),
            "G.5.running_mean": (c,), "G.5.running_var": (c,),
            "G.7.weight": (c, 1, K, K), "G.7.bias": (1,),
            "D.0.weight": (c, 1, K, K), "D.0.bias": (c,), "D.2.weight": (2 * c, c, K, K),
            "D.2.bias": (2 * c,), "D.3.weight": (2 * c,), "D.3.bias": (2 * c,),
            "D.3.running_mean": (2 * c,), "D.3.running_var": (2 * c,),
            "D.6.weight": (1, f), "D.6.bias": (1,)}


def _chw_to_hwc(c):
    """Index map of the 2c 7 7 features: floor position (h, w, ch) <- PyTorch position (ch, h, w)."""
    return np.arange(2 * c * 49).reshape(2 * c, 7, 7).transpose(1, 2, 0).ravel()


def to_floor(name, a, c):
    """A PyTorch-layout array of parameter/buffer ``name`` in the floor's layout.

    Conv2d weights (O, C, a, b) become the (16 C, O) matrix Wm[(a, b, c), o]; ConvTranspose2d
    weights (C, O, a, b) the (C, 16 O) matrix Wm[c, (a, b, o)]; the features of G's first
    Linear and BatchNorm1d, and the inputs of D's Linear, go from (ch, h, w) to (h, w, ch) order.
    """
    if name in ("D.0.weight", "D.2.weight"):
        return a.transpose(2, 3, 1, 0).reshape(-1, a.shape[0])
    if name in ("G.4.weight", "G.7.weight"):
        return a.transpose(0, 2, 3, 1).reshape(a.shape[0], -1)
    if name.startswith(("G.0.", "G.1.")):
        return a[_chw_to_hwc(c)]
    if name == "D.6.weight":
        return a[:, _chw_to_hwc(c)]
    return a


def to_torch(name, a, c):
    """The inverse of :func:`to_floor`: a floor-layout array in PyTorch's layout."""
    shape = param_shapes(c)[name]
    if name in ("D.0.weight", "D.2.weight"):
        o, ci = shape[:2]
        return a.reshape(K, K, ci, o).transpose(3, 2, 0, 1)
    if name in ("G.4.weight", "G.7.weight"):
        ci, o = shape[:2]
        return a.reshape(ci, K, K, o).transpose(0, 3, 1, 2)
    inverse = np.argsort(_chw_to_hwc(c))
    if name.startswith(("G.0.", "G.1.")):
        return a[inverse]
    if name == "D.6.weight":
        return a[:, inverse]
    return a


def torch_like_init(c, rng, dtype, nz=100):
    """PyTorch's default initialisation, in PyTorch's layout: weights and biases of Linear and
    Conv2d uniform in +-1/sqrt(fan_in) (fan_in = in_channels 16; for ConvTranspose2d PyTorch
    takes weight.shape[1] 16 = out_channels 16), batch norm weight 1, bias 0, running mean 0,
    running variance 1."""
    fan = {"G.0": nz, "G.4": c * 16, "G.7": 16, "D.0": 16, "D.2": c * 16, "D.6": 2 * c * 49}
    out = {}
    for name, shape in param_shapes(c, nz).items():
        layer, kind = name.rsplit(".", 1)
        if layer in fan:
            bound = 1 / math.sqrt(fan[layer])
            out[name] = rng.uniform(-bound, bound, shape).astype(dtype)
        else:  # batch norm
            value = 0.0 if kind in ("bias", "running_mean") else 1.0
            out[name] = np.full(shape, value, dtype)
    return out


class Net:
    """One network's parameters (one flat buffer, as floor.MLP), gradients, Adam state and buffers.

    ``p[name]`` and ``g[name]`` are views into ``theta`` and ``grad`` in the floor's layout;
    ``buf[name]`` the batch-norm running statistics.
    """

    def __init__(self, prefix, state, c, dtype):
        names = [n for n in state if n.startswith(prefix) and "running" not in n]
        arrays = {n: to_floor(n, state[n], c) for n in state if n.startswith(prefix)}
        total = sum(arrays[n].size for n in names)
        self.theta, self.grad = np.empty(total, dtype), np.zeros(total, dtype)
        self.m, self.v, self.tmp = np.zeros(total, dtype), np.zeros(total, dtype), np.empty(total, dtype)
        self.p, self.g, self.names = {}, {}, names
        at = 0
        for n in names:
            a = arrays[n]
            self.p[n] = self.theta[at:at + a.size].reshape(a.shape)
            self.p[n][...] = a
            self.g[n] = self.grad[at:at + a.size].reshape(a.shape)
            at += a.size
        self.buf = {n: np.array(a, dtype) for n, a in arrays.items() if "running" in n}
        self.t = 0
        self._chunks = adam_chunks(self.grad, self.m, self.v, self.tmp, self.theta)

    def adam(self, lr, betas, eps):
        """One Adam update of every parameter (floor.adam_update, on this net's flat buffers)."""
        self.t += 1
        adam_update(self._chunks, self.t, lr, betas, eps)


class BatchNorm:
    """Training-mode batch norm of an (R, C) matrix, statistics per group of rows.

    ``forward`` and ``backward`` follow the formulas of the module docstring; ``groups`` = 2 in
    D's D step (the real and the fake half), else 1. Buffers for ``rows`` rows.
    """

    def __init__(self, rows, ch, dtype, momentum=0.1, eps=1e-5):
        self.momentum, self.eps = momentum, eps
        self.ones = np.ones(rows, dtype)
        self.xh = np.empty((rows, ch), dtype)      # x-hat, kept for backward
        self.tmp = np.empty((rows, ch), dtype)
        self.r = np.empty((2, ch), dtype)          # 1 / sqrt(var + eps) per group
        self.s1, self.s2 = np.empty(ch, dtype), np.empty(ch, dtype)

    def forward(self, x, gamma, beta, mean, var, groups, out):
        """out = gamma xh + beta (R, C); updates the running ``mean`` and ``var`` in place."""
        R = x.shape[0]
        M = R // groups
        ones, mo = self.ones[:M], self.momentum
        for k in range(groups):
            xk, xh, t, r = x[k * M:(k + 1) * M], self.xh[k * M:(k + 1) * M], self.tmp[:M], self.r[k]
            np.dot(ones, xk, out=self.s1)
            self.s1 /= M                                   # mu
            np.subtract(xk, self.s1, out=xh)               # x - mu
            np.multiply(xh, xh, out=t)
            np.dot(ones, t, out=self.s2)
            self.s2 /= M                                   # var (biased)
            mean *= 1 - mo
            mean += mo * self.s1                           # running mean
            var *= 1 - mo
            var += (mo * M / (M - 1)) * self.s2            # running var (unbiased)
            np.add(self.s2, self.eps, out=r)
            np.sqrt(r, out=r)
            np.divide(1, r, out=r)                         # r = 1 / sqrt(var + eps)
            xh *= r                                        # xh = (x - mu) r
        xh = self.xh[:R]
        np.multiply(xh, gamma, out=out)
        out += beta

    def backward(self, dy, gamma, groups, dgamma, dbeta, dx):
        """dx from dy (R, C); with ``dgamma``/``dbeta`` arrays, the parameter gradients (summed
        over the groups) are written there (None: not wanted)."""
        R = dy.shape[0]
        M = R // groups
        ones = self.ones[:M]
        for k in range(groups):
            rows = slice(k * M, (k + 1) * M)
            dyk, xh, t, dxk = dy[rows], self.xh[rows], self.tmp[rows], dx[rows]
            np.dot(ones, dyk, out=self.s1)                 # dbeta of this group
            np.multiply(dyk, xh, out=t)
            np.dot(ones, t, out=self.s2)                   # dgamma of this group
            if dgamma is not None:
                if k == 0:
                    dgamma[...], dbeta[...] = self.s2, self.s1
                else:
                    dgamma += self.s2
                    dbeta += self.s1
            np.multiply(xh, self.s2, out=t)
            t += self.s1                                   # dbeta + xh dgamma
            np.multiply(dyk, M, out=dxk)
            dxk -= t                                       # M dy - dbeta - xh dgamma
            dxk *= (gamma / M) * self.r[k]                 # times gamma r / M


class FloorDCGAN:
    """G and D of DCGAN-B with ``c`` channels and the whole training step, by hand, in NHWC.

    Args:
        batch: N. c: the channel count (64 for DCGAN-B). nz: the noise dimension.
        lr, betas, eps: Adam's settings. slope: LeakyReLU's. dtype: float32 or float64.
        seed: seeds the initial weights (PyTorch's default scheme) and the noise.
        state: optional {name: PyTorch-layout array} to start from (see :func:`param_shapes`).
    """

    def __init__(self, batch, c=64, nz=100, lr=2e-4, betas=(0.5, 0.999), eps=1e-8, slope=0.2,
                 dtype="float32", seed=0, state=None):
        dt = self.dtype = np.dtype(dtype)
        self.rng = np.random.Generator(np.random.PCG64(seed))
        state = state or torch_like_init(c, self.rng, dt, nz)
        self.N, self.c, self.nz, self.lr, self.betas, self.eps, self.s = \
            batch, c, nz, lr, tuple(betas), eps, slope
        self.G, self.D = Net("G.", state, c, dt), Net("D.", state, c, dt)
        N, R, f = batch, 2 * batch, 2 * c * 49
        e = np.empty
        # G (N rows): z, Linear out, BN1d, ReLU factor, convT1 columns / padded output, BN2d, ...
        self.z = e((N, nz), dt)
        self.g_h0, self.g_a0, self.g_f0 = e((N, f), dt), e((N, f), dt), e((N, f), dt)
        self.g_cols1 = e((N, 7, 7, K, K, c), dt)
        self.g_pad1 = e((N, 16, 16, c), dt)
        self.g_h1, self.g_a1, self.g_f1 = e((N * 196, c), dt), e((N * 196, c), dt), e((N * 196, c), dt)
        self.g_cols2 = e((N, 14, 14, K, K, 1), dt)
        self.g_pad2 = e((N, 30, 30, 1), dt)
        self.g_bn0, self.g_bn1 = BatchNorm(N, f, dt), BatchNorm(N * 196, c, dt)
        self.g_dh2 = e((N, 28, 28, 1), dt)
        self.g_dpad2 = np.zeros((N, 30, 30, 1), dt)        # borders stay 0
        self.g_dpad1 = np.zeros((N, 16, 16, c), dt)
        self.g_da1, self.g_dh1 = e((N * 196, c), dt), e((N * 196, c), dt)
        self.g_da0, self.g_dh0 = e((N, f), dt), e((N, f), dt)
        self.ones = np.ones(R * 196, dt)                   # column sums as 1^T dY (a GEMV)
        # D (2N rows in the D step): padded input, conv1, conv2, BN, LeakyReLU, Linear
        self.d_xpad = np.zeros((R, 30, 30, 1), dt)         # borders stay 0; x at [1:29, 1:29]
        self.d_cols1 = e((R, 14, 14, K, K, 1), dt)
        self.d_z1, self.d_f1 = e((R * 196, c), dt), e((R * 196, c), dt)
        self.d_apad1 = np.zeros((R, 16, 16, c), dt)        # LeakyReLU(conv1) at [1:15, 1:15]
        self.d_cols2 = e((R, 7, 7, K, K, c), dt)
        self.d_z2, self.d_y2, self.d_f2, self.d_a2 = (e((R * 49, 2 * c), dt) for _ in range(4))
        self.d_bn = BatchNorm(R * 49, 2 * c, dt)
        self.d_logits = e((R, 1), dt)
        self.d_dlogits, self.d_q, self.d_sp = e((R, 1), dt), e((R, 1), dt), e((R, 1), dt)
        self.d_da2 = e((R * 49, 2 * c), dt)
        self.d_dz2 = e((R * 49, 2 * c), dt)
        self.d_dcols2 = e((R, 7, 7, K, K, c), dt)
        self.d_dapad1 = e((R, 16, 16, c), dt)
        self.d_dz1 = e((R * 196, c), dt)
        self.d_dcols1 = e((R, 14, 14, K, K, 1), dt)
        self.d_dxpad = e((R, 30, 30, 1), dt)
        self.sign_d = np.concatenate([-np.ones((N, 1)), np.ones((N, 1))]).astype(dt)
        self.sign_g = -np.ones((N, 1), dt)

    # --- G ---------------------------------------------------------------------------------
    def g_forward(self, out):
        """G(z) for the noise in ``self.z``, written through tanh into ``out`` (N, 28, 28, 1)."""
        N, c, G = self.N, self.c, self.G
        p, buf = G.p, G.buf
        np.dot(self.z, p["G.0.weight"].T, out=self.g_h0)             # h0 = z W0^T + b0
        self.g_h0 += p["G.0.bias"]
        self.g_bn0.forward(self.g_h0, p["G.1.weight"], p["G.1.bias"], buf["G.1.running_mean"],
                           buf["G.1.running_var"], 1, out=self.g_a0)
        np.greater(self.g_a0, 0, out=self.g_f0)                       # ReLU: f = [y > 0]
        self.g_a0 *= self.g_f0
        a0 = self.g_a0.reshape(N * 49, 2 * c)                         # unflatten: rows are pixels
        cols = self.g_cols1.reshape(N * 49, K * K * c)
        np.dot(a0, p["G.4.weight"], out=cols)                         # convT1: cols = A Wm
        col2im(self.g_cols1, self.g_pad1)
        np.add(self.g_pad1[:, 1:15, 1:15, :], p["G.4.bias"], out=self.g_h1.reshape(N, 14, 14, c))
        self.g_bn1.forward(self.g_h1, p["G.5.weight"], p["G.5.bias"], buf["G.5.running_mean"],
                           buf["G.5.running_var"], 1, out=self.g_a1)
        np.greater(self.g_a1, 0, out=self.g_f1)
        self.g_a1 *= self.g_f1
        cols = self.g_cols2.reshape(N * 196, K * K)
        np.dot(self.g_a1, p["G.7.weight"], out=cols)                  # convT2
        col2im(self.g_cols2, self.g_pad2)
        np.add(self.g_pad2[:, 1:29, 1:29, :], p["G.7.bias"], out=out)
        np.tanh(out, out=out)
        self._g_out = out

    def g_backward(self, dout):
        """G's parameter gradients from dL/dG(z) = ``dout`` (N, 28, 28, 1)."""
        N, c, G = self.N, self.c, self.G
        p, g = G.p, G.g
        y, dh2 = self._g_out, self.g_dh2
        np.multiply(y, y, out=dh2)
        np.subtract(1, dh2, out=dh2)
        dh2 *= dout                                                    # tanh: dh = dy (1 - y^2)
        g["G.7.bias"][...] = dh2.sum()
        self.g_dpad2[:, 1:29, 1:29, :] = dh2
        im2col(self.g_dpad2, self.g_cols2)                             # convT2 backward
        dcols = self.g_cols2.reshape(N * 196, K * K)
        np.dot(self.g_a1.T, dcols, out=g["G.7.weight"])                # dWm = A^T dcols
        np.dot(dcols, p["G.7.weight"].T, out=self.g_da1)               # dA = dcols Wm^T
        self.g_da1 *= self.g_f1                                        # ReLU
        self.g_bn1.backward(self.g_da1, p["G.5.weight"], 1, g["G.5.weight"], g["G.5.bias"],
                            self.g_dh1)
        np.dot(self.ones[:N * 196], self.g_dh1, out=g["G.4.bias"])
        self.g_dpad1[:, 1:15, 1:15, :] = self.g_dh1.reshape(N, 14, 14, c)
        im2col(self.g_dpad1, self.g_cols1)                             # convT1 backward
        dcols = self.g_cols1.reshape(N * 49, K * K * c)
        a0 = self.g_a0.reshape(N * 49, 2 * c)
        np.dot(a0.T, dcols, out=g["G.4.weight"])
        np.dot(dcols, p["G.4.weight"].T, out=self.g_da0.reshape(N * 49, 2 * c))
        self.g_da0 *= self.g_f0
        self.g_bn0.backward(self.g_da0, p["G.1.weight"], 1, g["G.1.weight"], g["G.1.bias"],
                            self.g_dh0)
        np.dot(self.g_dh0.T, self.z, out=g["G.0.weight"])              # dW0 = dh0^T z
        np.dot(self.ones[:N], self.g_dh0, out=g["G.0.bias"])

    # --- D ---------------------------------------------------------------------------------
    def d_forward(self, R, groups):
        """D's logits (R, 1) for the R images in ``d_xpad[:R, 1:29, 1:29]``."""
        c, s, D = self.c, self.s, self.D
        p, buf = D.p, D.buf
        im2col(self.d_xpad[:R], self.d_cols1[:R])                       # conv1
        z1, f1 = self.d_z1[:R * 196], self.d_f1[:R * 196]
        np.dot(self.d_cols1[:R].reshape(R * 196, K * K), p["D.0.weight"], out=z1)
        z1 += p["D.0.bias"]
        np.greater(z1, 0, out=f1)                                       # LeakyReLU: f = s + (1 - s)[z > 0]
        f1 *= 1 - s
        f1 += s
        np.multiply(z1.reshape(R, 14, 14, c), f1.reshape(R, 14, 14, c),
                    out=self.d_apad1[:R, 1:15, 1:15, :])
        im2col(self.d_apad1[:R], self.d_cols2[:R])                      # conv2
        z2, y2, f2, a2 = (a[:R * 49] for a in (self.d_z2, self.d_y2, self.d_f2, self.d_a2))
        np.dot(self.d_cols2[:R].reshape(R * 49, K * K * c), p["D.2.weight"], out=z2)
        z2 += p["D.2.bias"]
        self.d_bn.forward(z2, p["D.3.weight"], p["D.3.bias"], buf["D.3.running_mean"],
                          buf["D.3.running_var"], groups, out=y2)
        np.greater(y2, 0, out=f2)
        f2 *= 1 - s
        f2 += s
        np.multiply(y2, f2, out=a2)
        logits = self.d_logits[:R]
        np.dot(a2.reshape(R, 49 * 2 * c), p["D.6.weight"].T, out=logits)  # flatten, Linear
        logits += p["D.6.bias"]
        return logits

    def d_backward(self, R, groups, dlogits, param_grads, input_grad):
        """Backward through D from dL/dlogits; returns dL/dx (R, 28, 28, 1) if ``input_grad``."""
        c, D = self.c, self.D
        p, g = D.p, D.g
        a2 = self.d_a2[:R * 49].reshape(R, 49 * 2 * c)
        da2 = self.d_da2[:R * 49]
        if param_grads:
            np.dot(dlogits.T, a2, out=g["D.6.weight"])                  # dW = dlogits^T a
            g["D.6.bias"][...] = dlogits.sum()
        np.multiply(dlogits, p["D.6.weight"], out=da2.reshape(R, 49 * 2 * c))  # da = dlogits W
        da2 *= self.d_f2[:R * 49]                                       # LeakyReLU
        dz2 = self.d_dz2[:R * 49]
        self.d_bn.backward(da2, p["D.3.weight"], groups, g["D.3.weight"] if param_grads else None,
                           g["D.3.bias"] if param_grads else None, dz2)
        dcols = self.d_dcols2[:R].reshape(R * 49, K * K * c)
        if param_grads:
            np.dot(self.ones[:R * 49], dz2, out=g["D.2.bias"])
            np.dot(self.d_cols2[:R].reshape(R * 49, K * K * c).T, dz2, out=g["D.2.weight"])
        np.dot(dz2, p["D.2.weight"].T, out=dcols)                       # conv2: dcols = dY Wm^T
        col2im(self.d_dcols2[:R], self.d_dapad1[:R])
        dz1 = self.d_dz1[:R * 196]
        np.multiply(self.d_dapad1[:R, 1:15, 1:15, :], self.d_f1[:R * 196].reshape(R, 14, 14, c),
                    out=dz1.reshape(R, 14, 14, c))                      # LeakyReLU
        if param_grads:
            np.dot(self.ones[:R * 196], dz1, out=g["D.0.bias"])
            np.dot(self.d_cols1[:R].reshape(R * 196, K * K).T, dz1, out=g["D.0.weight"])
        if not input_grad:
            return None
        np.dot(dz1, p["D.0.weight"].T, out=self.d_dcols1[:R].reshape(R * 196, K * K))
        col2im(self.d_dcols1[:R], self.d_dxpad[:R])
        return self.d_dxpad[:R, 1:29, 1:29, :]

    # --- the step --------------------------------------------------------------------------
    def _loss(self, logits, sign, dlogits):
        """mean softplus(sign a) per half and dL/da = sign sigmoid(sign a) / N (as floor.py)."""
        R = logits.shape[0]
        q, sp = self.d_q[:R], self.d_sp[:R]
        np.multiply(logits, sign, out=q)
        np.logaddexp(q, 0, out=sp)
        loss = float(sp.sum()) / self.N
        np.subtract(q, sp, out=dlogits)
        np.exp(dlogits, out=dlogits)
        dlogits *= sign
        dlogits /= self.N
        return loss

    def _noise(self, z):
        if z is None:
            self.rng.standard_normal(out=self.z, dtype=self.dtype.type)
        else:
            np.copyto(self.z, z)

    def step(self, real, z_d=None, z_g=None):
        """One D update then one G update on the real batch (N, 784) or (N, 1, 28, 28); returns
        (L_D, L_G). ``z_d``, ``z_g``: the noise of each step (N, nz), drawn here when None."""
        N = self.N
        # --- D step: D over [x; G(z)] (2N rows, batch statistics per half) ----------------------
        self.d_xpad[:N, 1:29, 1:29, 0] = real.reshape(N, 28, 28)
        self._noise(z_d)
        self.g_forward(out=self.d_xpad[N:2 * N, 1:29, 1:29, :])
        logits = self.d_forward(2 * N, groups=2)
        dlogits = self.d_dlogits[:2 * N]
        d_loss = self._loss(logits, self.sign_d, dlogits)
        self.d_backward(2 * N, 2, dlogits, param_grads=True, input_grad=False)
        self.D.adam(self.lr, self.betas, self.eps)
        # --- G step: L_G = mean softplus(-D(G(z'))), no weight gradient for D ----------------
        self._noise(z_g)
        self.g_forward(out=self.d_xpad[:N, 1:29, 1:29, :])
        logits = self.d_forward(N, groups=1)
        dlogits = self.d_dlogits[:N]
        g_loss = self._loss(logits, self.sign_g, dlogits)
        dfake = self.d_backward(N, 1, dlogits, param_grads=False, input_grad=True)
        self.g_backward(dfake)
        self.G.adam(self.lr, self.betas, self.eps)
        return d_loss, g_loss

    def torch_state(self, what="p"):
        """{name: array in PyTorch's layout} of the parameters ("p"), their gradients ("g") or
        the batch-norm buffers ("buf")."""
        out = {}
        for net in (self.G, self.D):
            for name, a in getattr(net, what).items():
                out[name] = to_torch(name, a, self.c)
        return out
