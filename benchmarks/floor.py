"""The floor: one GAN training step in plain NumPy, every gradient written out by hand.

No engine, no graph, no Tensor objects: a forward pass into preallocated
buffers, the backward pass written line by line under it, and Adam on one
flat parameter buffer per network. This is the speed an engine running the
same step on NumPy can approach (its graph bookkeeping costs extra), so the
benchmark reports every implementation's time as a ratio to this one.
It is also meant to be read: the math of each piece is in the comments.

The step (the same as :class:`npgan.gan.GANTrainer.step`, non-saturating loss)::

    D step:  x ~ data,  z ~ p(z),  x~ = G(z)      (G gets no gradient here)
             L_D = mean softplus(-D(x)) + mean softplus(D(x~))      (D returns logits)
             Adam on D's parameters
    G step:  z' ~ p(z) (fresh),  L_G = mean softplus(-D(G(z')))
             Adam on G's parameters (D's weights get no gradient)

Notation, for a layer l with input H (R rows), weight W (out x in), bias b:

    Z = H W^T + b                 (Linear)
    H' = phi(Z) * M               (activation, then dropout: M = keep / (1 - p), keep ~ Bernoulli(1 - p))

and ``dX`` means dL/dX, an array of X's shape. The backward of the layer:

    dZ = dH' * M * phi'(Z)        (elementwise; call F = M * phi'(Z) "the local factor")
    dW = dZ^T H,   db = sum over rows of dZ,   dH = dZ W

How it is made lean:

* Every array is allocated once, in ``__init__``; the step writes into them with
  ``out=`` and in-place operators, so it allocates nothing but the random bits
  of the dropout masks and a few scalars.
* The D step runs D once over the 2N rows [x; x~]: every row is independent
  (its own dropout mask), so this is the same arithmetic, the same matmul FLOPs
  and the same gradient (dW = dZ_real^T H_real + dZ_fake^T H_fake is one matmul
  over the stacked rows) as two passes, in half the calls. G's output is
  written straight into D's input buffer.
* LeakyReLU is z times its own slope, so activation and dropout fold into one
  factor F: forward H' = Z * F, backward dZ = dH' * F, one multiply each way.
* Products go through ``np.dot``, which calls BLAS for every 2-D shape (``np.matmul``
  takes a slow loop for a thin (N, 1) input), and bias gradients are column sums
  taken as ``ones @ dZ``, a BLAS product several times faster than ``dZ.sum(axis=0)``.
* Only the gradients the step needs are computed: no dX for the first layer
  of a pass whose input needs none (data, noise, the detached fake), no dW for
  D in the G step, no graph at all for G's forward in the D step.
* Adam updates one flat buffer per network in 12 array operations per
  cache-sized chunk, however many layers there are (an engine's per-tensor
  loop pays per parameter tensor, and streams each array through memory 12 times).
* Dropout masks come from raw random bits compared with an integer threshold
  (:func:`bernoulli_keep`), half the cost of drawing float uniforms.
"""
import math

import numpy as np


def torch_like_init(sizes, rng, dtype):
    """[(W, b)] per layer, W (out, in) and b (out,) uniform in +-1/sqrt(in), as nn.Linear."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(n_in)
        params.append((rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype),
                       rng.uniform(-bound, bound, (n_out,)).astype(dtype)))
    return params


ADAM_CHUNK = 1 << 17  # entries per Adam chunk: 5 float32 arrays of it, 2.5 MB, fit in L2


def bernoulli_keep(rng, p, out):
    """Fill ``out`` with keep ~ Bernoulli(1 - p) as 0.0 / 1.0, from 32 random bits per entry.

    keep = [u >= p 2^32] for u uniform on the 32-bit integers: P(keep) = 1 - p to within
    2^-33 (a float32 uniform is only resolved to 2^-24), and it costs half as much as
    drawing float uniforms, because the bits need no conversion (half a 64-bit draw each).
    """
    n = out.size
    bits = rng.bit_generator.random_raw((n + 1) // 2).view(np.uint32)[:n].reshape(out.shape)
    np.greater_equal(bits, np.uint32(min(round(p * 2 ** 32), 2 ** 32 - 1)), out=out)


class MLP:
    """A multilayer perceptron: its parameters, Adam state and every buffer of its passes.

    Layers are Linear -> activation (-> dropout) for the hidden layers and
    Linear (-> tanh) for the last. Buffers hold ``rows`` rows; a pass over
    R <= rows rows uses the first R (row slices of C-ordered arrays are
    contiguous, so BLAS and the ufuncs see plain arrays).

    Attributes:
        theta, grad: the flat parameter and gradient buffers; ``W[l]``, ``b[l]``,
            ``gW[l]``, ``gb[l]`` are views into them.
        X: the input buffer (rows, sizes[0]); the caller writes the input there.
        dX: dL/dX after a backward with ``input_grad=True``.
    """

    def __init__(self, sizes, act, rows, dtype, params, slope=0.2, dropout=0.0, out_act="linear"):
        if act not in ("elu", "leaky_relu"):
            raise ValueError(f"floor: activation must be 'elu' or 'leaky_relu', got {act!r}")
        if out_act not in ("linear", "tanh"):
            raise ValueError(f"floor: output activation must be 'linear' or 'tanh', got {out_act!r}")
        self.sizes, self.act, self.slope, self.p, self.out_act = sizes, act, slope, dropout, out_act
        self.L = len(sizes) - 1
        dtype = np.dtype(dtype)
        self.dtype = dtype
        # One flat buffer for all parameters (and one for their gradients): W[l] and b[l]
        # are views into it, so the optimizer sees a single array.
        total = sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        self.theta = np.empty(total, dtype)
        self.grad = np.zeros(total, dtype)
        self.W, self.b, self.gW, self.gb = [], [], [], []
        at = 0
        for (n_in, n_out), (W, b) in zip(zip(sizes[:-1], sizes[1:]), params):
            for store, grads, shape, value in ((self.W, self.gW, (n_out, n_in), W),
                                               (self.b, self.gb, (n_out,), b)):
                size = math.prod(shape)
                view = self.theta[at:at + size].reshape(shape)
                view[...] = value
                store.append(view)
                grads.append(self.grad[at:at + size].reshape(shape))
                at += size
        self.WT = [W.T for W in self.W]  # transposed views: Z = H @ W^T runs as one GEMM
        # Adam's state: first and second moments, a scratch buffer, the update count.
        self.m = np.zeros(total, dtype)
        self.v = np.zeros(total, dtype)
        self.tmp = np.empty(total, dtype)
        self.t = 0
        self._chunks = adam_chunks(self.grad, self.m, self.v, self.tmp, self.theta)
        # Activation buffers. Z[l] holds layer l's pre-activation, then (in place) its output;
        # F[l] the local factor of hidden layer l; S[l] a scratch of the same shape;
        # dZ[l] the gradient flowing back through layer l's output.
        widths = sizes[1:]
        self.ones = np.ones(rows, dtype)  # sum_rows dZ = ones^T dZ: a GEMV, faster than a reduction
        self.X = np.empty((rows, sizes[0]), dtype)
        self.dX = np.empty((rows, sizes[0]), dtype)
        self.Z = [np.empty((rows, n), dtype) for n in widths]
        self.F = [np.empty((rows, n), dtype) for n in widths[:-1]]
        self.S = [np.empty((rows, n), dtype) for n in widths[:-1]]
        self.dZ = [np.empty((rows, n), dtype) for n in widths]
        self._views = {}
        self._out = None   # the array the last forward wrote its output to
        self._in = None    # the array the last forward read its input from

    def views(self, R):
        """The first R rows of every buffer (made once per R, then reused)."""
        if R not in self._views:
            self._views[R] = (self.X[:R], self.dX[:R], [a[:R] for a in self.Z],
                              [a[:R] for a in self.F], [a[:R] for a in self.S],
                              [a[:R] for a in self.dZ])
        return self._views[R]

    # --- forward -------------------------------------------------------------------------
    def forward(self, R, grad, rng=None, keep=None, out=None, x=None):
        """Run the network on the R rows of ``x`` (default: this MLP's X buffer).

        ``grad``: keep what backward needs (the local factors F); without it the
        activations take their cheapest form. Dropout (p > 0) draws its keep
        masks from ``rng``, or takes them from ``keep`` (one 0/1 array per hidden
        layer) to reproduce another implementation's masks exactly.
        ``out``: where the last layer writes (default: this MLP's buffer).
        Returns the output array.
        """
        X, _, Z, F, S, _ = self.views(R)
        H = X if x is None else x
        self._in = H
        s, p = self.slope, self.p
        for l in range(self.L - 1):
            Zl, Fl, Sl = Z[l], F[l], S[l]
            np.dot(H, self.WT[l], out=Zl)             # Z = H W^T
            Zl += self.b[l]                             #     + b
            if p > 0:  # F = keep ~ Bernoulli(1 - p), as 0.0 / 1.0
                if keep is not None:
                    np.copyto(Fl, keep[l])
                else:
                    bernoulli_keep(rng, p, out=Fl)
            if self.act == "leaky_relu":
                # phi(z) = z * slope(z), slope = 1 (z > 0) or s: then phi'(z) = slope(z)
                # (away from 0) and, with dropout, phi(Z) * M = Z * F for F = slope(Z) * M.
                if not grad and p == 0:
                    np.multiply(Zl, s, out=Sl)          # cheapest forward: max(z, s z)
                    np.maximum(Zl, Sl, out=Zl)
                    H = Zl
                    continue
                np.greater(Zl, 0, out=Sl if p > 0 else Fl)
                slope_m = Sl if p > 0 else Fl           # [z > 0] as 0.0 / 1.0, then
                slope_m *= (1 - s) / (1 - p)            # slope(z) / (1 - p) = s/(1-p) + [z > 0] (1-s)/(1-p)
                slope_m += s / (1 - p)
                if p > 0:
                    Fl *= Sl                            # F = keep * slope(Z) / (1 - p)
                Zl *= Fl                                # H' = Z * F
            else:
                # ELU (alpha = 1): phi(z) = z (z > 0) or e^z - 1 = max(z, 0) + expm1(min(z, 0));
                # phi'(z) = 1 (z > 0) or e^z, = 1 + expm1(min(z, 0)) in both cases.
                # Keep the dropout mask in S and the slope in F (the factor wants their product).
                if p > 0:
                    np.multiply(Fl, 1 / (1 - p), out=Sl)  # M = keep / (1 - p)
                T = self.dZ[l][:R]                        # dZ[l] is free until backward: scratch
                np.minimum(Zl, 0, out=T)
                np.expm1(T, out=T)                        # T = expm1(min(z, 0))
                np.maximum(Zl, 0, out=Zl)
                Zl += T                                   # H = max(z, 0) + T
                if grad:
                    np.add(T, 1, out=Fl)                  # phi'(Z) = 1 + T
                if p > 0:
                    Zl *= Sl                              # H' = H * M
                    if grad:
                        Fl *= Sl                          # F = phi'(Z) * M
            H = Zl
        # the last layer: Z = H W^T + b, then tanh or nothing
        Y = Z[-1] if out is None else out
        np.dot(H, self.WT[-1], out=Y)
        Y += self.b[-1]
        if self.out_act == "tanh":
            np.tanh(Y, out=Y)                             # y = tanh(z); dy/dz = 1 - y^2
        self._out = Y
        return Y

    # --- backward ------------------------------------------------------------------------
    def backward(self, R, dY, param_grads, input_grad):
        """Backpropagate dY = dL/d(output) through the last forward pass.

        ``param_grads``: write dW and db into ``gW``/``gb`` (overwriting: a step
        computes each gradient once, so there is nothing to zero or accumulate).
        ``input_grad``: write dL/d(input) into ``dX``.
        """
        _, dX, Z, F, _, dZs = self.views(R)
        L = self.L
        if self.out_act == "tanh":  # dZ = dY * (1 - y^2)
            dZ = dZs[-1]
            np.multiply(self._out, self._out, out=dZ)
            np.subtract(1, dZ, out=dZ)
            dZ *= dY
        else:
            dZ = dY
        for l in range(L - 1, -1, -1):
            if l < L - 1:
                dZ = dZs[l]
                dZ *= F[l]                                # dZ = dH' * F
            H = Z[l - 1] if l > 0 else self._in           # this layer's input
            if param_grads:
                np.dot(dZ.T, H, out=self.gW[l])           # dW = dZ^T H
                np.dot(self.ones[:R], dZ, out=self.gb[l])  # db = sum_rows dZ = 1^T dZ
            if l > 0:
                np.dot(dZ, self.W[l], out=dZs[l - 1])     # dH = dZ W (into the layer below)
            elif input_grad:
                np.dot(dZ, self.W[0], out=dX)
        return dX if input_grad else None

    # --- Adam ----------------------------------------------------------------------------
    def adam(self, lr, betas, eps):
        """One Adam update of every parameter on the flat buffers (:func:`adam_update`)."""
        self.t += 1
        adam_update(self._chunks, self.t, lr, betas, eps)


def adam_chunks(grad, m, v, tmp, theta):
    """The flat Adam buffers cut into chunks of ADAM_CHUNK entries, as :func:`adam_update` walks them."""
    return [tuple(a[i:i + ADAM_CHUNK] for a in (grad, m, v, tmp, theta))
            for i in range(0, theta.size, ADAM_CHUNK)]


def adam_update(chunks, t, lr, betas, eps):
    """Adam's update number t (1 for the first) of every parameter, with PyTorch's rule, on flat
    buffers::

        m = b1 m + (1 - b1) g              v = b2 v + (1 - b2) g^2
        theta -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)      (PyTorch's form)
               = step m / (sqrt(v) + eps c),   c = sqrt(1 - b2^t),  step = lr c / (1 - b1^t)

    The second form (numerator and denominator times c) saves one pass. The
    buffers are walked in chunks of ADAM_CHUNK entries (:func:`adam_chunks`), so the
    12 operations on a chunk find it in the CPU cache instead of streaming every
    array 12 times.
    """
    b1, b2 = betas
    c = math.sqrt(1 - b2 ** t)
    step, eps_c = lr * c / (1 - b1 ** t), eps * c
    for g, m, v, tmp, theta in chunks:
        m *= b1
        np.multiply(g, 1 - b1, out=tmp)
        m += tmp                        # m = b1 m + (1 - b1) g
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - b2
        v += tmp                        # v = b2 v + (1 - b2) g^2
        np.sqrt(v, out=tmp)
        tmp += eps_c
        np.divide(m, tmp, out=tmp)
        tmp *= step
        theta -= tmp                    # theta -= step m / (sqrt(v) + eps c)


class FloorGAN:
    """G and D as :class:`MLP` s and the whole training step, by hand.

    Args:
        g_sizes: G's layer widths, noise dimension first, data dimension last.
        d_sizes: D's layer widths, data dimension first, 1 (the logit) last.
        act: hidden activation of both, "elu" (alpha = 1) or "leaky_relu" (``slope``).
        d_dropout: dropout probability after each of D's hidden activations.
        g_out: G's output activation, "linear" or "tanh".
        noise: "uniform" (U[0, 1)) or "normal" (N(0, 1)) noise for G.
        batch: N, the batch size of both steps (buffers are sized for it).
        lr, betas, eps: Adam's settings, for both networks.
        dtype: float32 (the benchmark) or float64 (the gradient tests).
        seed: seeds the initial weights, the noise and the dropout masks.
        g_params, d_params: optional [(W, b)] per layer to start from instead.
    """

    def __init__(self, g_sizes, d_sizes, act, batch, slope=0.2, d_dropout=0.0, g_out="linear",
                 noise="uniform", lr=2e-4, betas=(0.5, 0.999), eps=1e-8, dtype="float32",
                 seed=0, g_params=None, d_params=None):
        if d_sizes[-1] != 1 or g_sizes[-1] != d_sizes[0]:
            raise ValueError(f"floor: G {g_sizes} must end where D {d_sizes} starts, and D end in 1")
        if noise not in ("uniform", "normal"):
            raise ValueError(f"floor: noise must be 'uniform' or 'normal', got {noise!r}")
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.N, self.noise, self.lr, self.betas, self.eps = batch, noise, lr, tuple(betas), eps
        self.dtype = np.dtype(dtype)
        g_params = g_params or torch_like_init(g_sizes, self.rng, self.dtype)
        d_params = d_params or torch_like_init(d_sizes, self.rng, self.dtype)
        self.G = MLP(g_sizes, act, batch, self.dtype, g_params, slope=slope, out_act=g_out)
        self.D = MLP(d_sizes, act, 2 * batch, self.dtype, d_params, slope=slope, dropout=d_dropout)
        N = batch
        # The loss of a logit a is softplus(q) with q = sign * a: sign = -1 where the
        # target is "real" (-log D = softplus(-a)), +1 where it is "fake" (softplus(a)).
        self.sign_d = np.concatenate([-np.ones((N, 1)), np.ones((N, 1))]).astype(self.dtype)
        self.sign_g = -np.ones((N, 1), self.dtype)
        self.scale_d = self.sign_d / N   # dL/dq of a mean over N rows, with the sign
        self.scale_g = self.sign_g / N
        self.q = np.empty((2 * N, 1), self.dtype)
        self.sp = np.empty((2 * N, 1), self.dtype)

    def _noise(self, z):
        """Fill G's input buffer with z ~ p(z), or with the given z."""
        if z is not None:
            np.copyto(self.G.X, z)
        elif self.noise == "uniform":
            self.rng.random(out=self.G.X, dtype=self.dtype.type)
        else:
            self.rng.standard_normal(out=self.G.X, dtype=self.dtype.type)

    def _loss(self, logits, sign, scale, dlogits):
        """mean softplus(sign * logits) per half, and its gradient into ``dlogits``.

        softplus(q) = log(1 + e^q) = logaddexp(q, 0): finite for any q (the stable BCE).
        d softplus(q) / dq = sigmoid(q) = e^(q - softplus(q)): no overflow either, and
        accurate in both tails. With q = sign * a and a mean over N rows,
        dL/da = sign * sigmoid(q) / N.
        """
        R = logits.shape[0]
        q, sp = self.q[:R], self.sp[:R]
        np.multiply(logits, sign, out=q)
        np.logaddexp(q, 0, out=sp)
        loss = float(sp.sum()) / self.N
        np.subtract(q, sp, out=dlogits)
        np.exp(dlogits, out=dlogits)
        dlogits *= scale
        return loss

    def step(self, real, z_d=None, z_g=None, keep=None):
        """One D update then one G update; returns (L_D, L_G) as floats.

        ``real``: the real batch (N, data_dim). ``z_d``, ``z_g``: the noise of each
        step, drawn here when None. ``keep``: optional {"d": [...], "g": [...]}
        dropout keep masks per hidden layer of D (2N rows in the D step: real rows
        first, then fake; N rows in the G step), drawn here when None.
        """
        N, G, D = self.N, self.G, self.D
        keep = keep or {}
        # --- D step ------------------------------------------------------------------------
        np.copyto(D.X[:N], real)                           # rows 0..N-1: x
        self._noise(z_d)
        G.forward(N, grad=False, out=D.X[N:2 * N])         # rows N..2N-1: x~ = G(z), no graph
        logits = D.forward(2 * N, grad=True, rng=self.rng, keep=keep.get("d"))
        dlogits = D.dZ[-1][:2 * N]
        d_loss = self._loss(logits, self.sign_d, self.scale_d, dlogits)
        D.backward(2 * N, dlogits, param_grads=True, input_grad=False)
        D.adam(self.lr, self.betas, self.eps)
        # --- G step ------------------------------------------------------------------------
        self._noise(z_g)
        G.forward(N, grad=True, out=D.X[:N])               # x~' = G(z') straight into D's input
        logits = D.forward(N, grad=True, rng=self.rng, keep=keep.get("g"))
        dlogits = D.dZ[-1][:N]
        g_loss = self._loss(logits, self.sign_g, self.scale_g, dlogits)
        dfake = D.backward(N, dlogits, param_grads=False, input_grad=True)  # dL/dx~', no dW for D
        G.backward(N, dfake, param_grads=True, input_grad=False)
        G.adam(self.lr, self.betas, self.eps)
        return d_loss, g_loss
