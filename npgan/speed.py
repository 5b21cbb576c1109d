"""Speed: every trick the engine plays for speed, in this one marked place.

The files a learner reads (the tensor and its walk, the op families, the layers,
the optimizers) write each computation as its formula and call a function here
where the engine does it faster. Each function below says, first, the plain
idiom it replaces (a ``*_plain`` twin beside it, or the formula in the teaching
file that calls it) and, second, the gain measured on this project's 2-core
machine (``python3 benchmarks/idioms.py``, the README's speed list, or the
figure quoted). ``tests/test_speed.py`` checks that each fast version gives the
same numbers as its plain twin, bit for bit wherever the engine relies on it.

The engine uses the fast versions; nothing here changes a result.

1. :class:`ArrayCache` (``empty``, ``empty_like``): large arrays reused between steps.
2. :func:`keep_mask`: dropout masks from raw generator bits.
3. :func:`leaky_relu_slope`, :func:`leaky_relu_no_graph`: LeakyReLU without ``where``.
4. :func:`times`: a product with a kept factor, into a reused array.
5. :func:`matmul_2d`: matrix products through ``a.dot`` into reused arrays.
6. :func:`sigmoid_pair`: sigmoid(x) and sigmoid(-x) from one exp.
7. :func:`add_grads`: two gradients of one tensor summed into a reused array.
8. :func:`backward_with_needs`: a rule told which gradients to skip.
9. :func:`sgd_update`, :func:`adam_update`, :func:`rmsprop_update`: optimizer rules over
   one flat buffer, in cache-sized :func:`blocks`, without temporaries.
10. :func:`normalize`, :func:`normalize_grad`, :func:`affine`, :func:`sums`,
    :func:`sums_of_products`: batch and layer norm in fewer passes (sums by einsum,
    results in reused arrays).
"""
from sys import getrefcount as _getrefcount

import numpy

from npgan import backend
from npgan.autograd import Tensor

# numpy is named here only to tell host arrays (cached, blocked) from device arrays.


class ArrayCache:
    """Hands out arrays for op outputs, reusing the large ones a previous step has let go.

    A training step allocates the same large arrays every time (layer outputs,
    masks, gradients). glibc's malloc gives a block of that size back to the
    operating system when it is freed, and the next step pays a page fault for
    every 4 KiB of it when it writes there again (about a thousand faults per MNIST
    step at batch 1024: ``python3 benchmarks/idioms.py``). The cache keeps those
    arrays instead.

    An array in the cache is free when nothing outside the cache refers to it:
    its reference count is the cache's own (a view holds its base, so an array
    with a live view is not free). Only arrays of at least ``min_bytes`` are
    kept, up to ``max_bytes`` in all; when that is reached, the arrays nobody
    holds (say, of an earlier batch size) are dropped to make room. Others come
    straight from ``numpy.empty``.
    CuPy keeps a pool of its own, so on CuPy this is ``cupy.empty``.
    """

    def __init__(self, min_bytes=1 << 16, max_bytes=1 << 30):
        self.min_bytes, self.max_bytes = min_bytes, max_bytes
        self.bytes = 0
        self._arrays = {}  # (shape, dtype) -> arrays of that shape and dtype
        # The count a free array shows in the loop of empty(): the list, the loop variable and
        # the call's argument, 3 on CPython 3.11. Read here by the same loop, so an interpreter
        # that counts otherwise gets its own number, not one that could hand out a used array.
        for probe in [numpy.empty(0)]:
            self._free_count = _getrefcount(probe)

    def empty(self, xp, shape, dtype):
        """An uninitialised array of ``shape`` and ``dtype`` from module ``xp``."""
        if xp is not numpy:
            return xp.empty(shape, dtype)
        key = (shape, dtype)
        kept = self._arrays.get(key)
        if kept is not None:
            for a in kept:
                if _getrefcount(a) == self._free_count:  # nothing outside the cache holds it
                    return a
        a = numpy.empty(shape, dtype)
        if a.nbytes >= self.min_bytes:
            if self.bytes + a.nbytes > self.max_bytes:
                self._drop_free()  # make room: shapes of an earlier phase (another batch size)
            if self.bytes + a.nbytes <= self.max_bytes:
                self._arrays.setdefault(key, []).append(a)
                self.bytes += a.nbytes
        return a

    def _drop_free(self):
        """Forget the kept arrays nothing else holds (those in use stay)."""
        for key in list(self._arrays):
            kept = []
            for a in self._arrays[key]:  # the same loop as in empty(): the same free count
                if _getrefcount(a) == self._free_count:
                    self.bytes -= a.nbytes
                else:
                    kept.append(a)
            if kept:
                self._arrays[key] = kept
            else:
                del self._arrays[key]

    def clear(self):
        """Forget every kept array (those still in use live on with their users)."""
        self._arrays.clear()
        self.bytes = 0


_cache = ArrayCache()


empty = _cache.empty  # empty(xp, shape, dtype): an array for an op's output, from the cache


def empty_like(array):
    """An uninitialised array of ``array``'s shape, dtype and backend, from the cache."""
    return _cache.empty(backend.get_array_module(array), array.shape, array.dtype)


def empty_cache():
    """Release the large arrays kept for reuse (:class:`ArrayCache`)."""
    _cache.clear()


def empty_plain(xp, shape, dtype):
    """The plain idiom :func:`empty` replaces: a fresh array from the array module."""
    return xp.empty(shape, dtype)


# --- 2. dropout masks from raw generator bits --------------------------------

_BITS_CHUNK = 1 << 14  # entries of a keep mask drawn per call: 64 KiB of random bits


def keep_mask(rng, shape, p):
    """A boolean array, each entry True with probability 1 - p (dropout's keep mask).

    Plain idiom (:func:`keep_mask_plain`): ``keep = u >= p`` for float uniforms u.
    Here, on numpy: keep = [u >= round(p 2^32)] for u uniform on the 32-bit
    integers, the generator's raw 64-bit words split in halves, with no conversion
    to floats. Gain: 2.1 ms per million entries against 3.5 ms (idioms.py).
    The two agree on the same bits (u / 2^32 >= p) wherever p 2^32 is an integer;
    elsewhere they differ for one value of u in 2^32. On a GPU: the plain idiom.
    """
    if rng.device:
        return keep_mask_plain(rng, shape, p)
    threshold = numpy.uint32(min(round(p * 2 ** 32), 2 ** 32 - 1))
    keep = _cache.empty(numpy, tuple(shape), numpy.bool_)
    flat = keep.reshape(-1)
    # in pieces of _BITS_CHUNK entries, so the bits fit the CPU cache and no large block is
    # allocated per call; the draws are the same as one call for all of them
    for lo in range(0, flat.size, _BITS_CHUNK):
        hi = min(lo + _BITS_CHUNK, flat.size)
        bits = rng.raw_bits((hi - lo + 1) // 2).view(numpy.uint32)
        numpy.greater_equal(bits[:hi - lo], threshold, out=flat[lo:hi])
    return keep


def keep_mask_plain(rng, shape, p):
    """keep = u >= p for float32 uniforms u in [0, 1)."""
    return rng.random(shape, numpy.float32) >= p


# --- 3. LeakyReLU without where ----------------------------------------------

def leaky_relu_slope(x, s):
    """The local slope of LeakyReLU, 1 where x > 0 and s elsewhere, in x's dtype.

    Plain idiom (:func:`leaky_relu_slope_plain`): ``where(x > 0, 1, s)``. Here, for
    s >= 0: [x > 0] (1 - s) + s, three passes into one reused array, which is
    exactly 1 or s (for s < 0, (1 - s) + s can round to 1 + ulp: ``where`` then).
    Gain: 0.79 ms per million entries against 6.0 ms (idioms.py).
    """
    xp = backend.get_array_module(x)
    slope = xp.greater(x, 0, out=empty_like(x))  # [x > 0] as 0.0 / 1.0
    if s < 0:
        return xp.where(slope > 0, x.dtype.type(1), x.dtype.type(s))
    slope *= 1 - s
    slope += s
    return slope


def leaky_relu_slope_plain(x, s):
    """where(x > 0, 1, s)."""
    xp = backend.get_array_module(x)
    return xp.where(x > 0, x.dtype.type(1), x.dtype.type(s))


def leaky_relu_no_graph(x, s):
    """LeakyReLU's output when no graph is recorded: max(x, s x) (min for s > 1).

    Plain idiom (:func:`leaky_relu_no_graph_plain`): ``where(x > 0, x, s x)``.
    Here two passes into one reused array, nothing kept. Gain: as for
    :func:`leaky_relu_slope` (``where`` is the slow call).
    """
    xp = backend.get_array_module(x)
    y = xp.multiply(x, x.dtype.type(s), out=empty_like(x))
    return (xp.maximum if s <= 1 else xp.minimum)(x, y, out=y)


def leaky_relu_no_graph_plain(x, s):
    """where(x > 0, x, s x)."""
    xp = backend.get_array_module(x)
    return xp.where(x > 0, x, x * x.dtype.type(s))


# --- 4. a product with a kept factor -----------------------------------------

def times(g, factor):
    """g * factor for an array ``factor`` kept by an op (a slope, a dropout mask).

    Plain idiom (:func:`times_plain`): ``g * factor``. Here, for arrays, into a
    reused array (:func:`empty_like`): a large product does not page in fresh
    memory (the cache's gain). A Tensor g (a rule under ``create_graph``) gets
    the plain, recorded product.
    """
    if isinstance(g, Tensor):
        return g * factor
    return backend.get_array_module(g).multiply(g, factor, out=empty_like(g))


def times_plain(g, factor):
    """g * factor."""
    return g * factor


# --- 5. matrix products through a.dot ---------------------------------------

def matmul_2d(a, b):
    """``a @ b`` for matrices (arrays), or a recorded product for Tensors (``create_graph``).

    Plain idiom (:func:`matmul_2d_plain`): ``a @ b``. Here the array method
    ``a.dot``, into a reused array: numpy's matmul takes a slow loop for thin
    shapes such as (N, 1) x (1, 16), and the method skips the dispatch ``np.dot``
    goes through. Gain: 3.2 us against 23.2 us for a (512, 1) x (1, 16) product
    (idioms.py). Both call the same BLAS routine on other shapes, so the numbers
    are the same.
    """
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a @ b
    xp = backend.get_array_module(a)
    dtype = a.dtype if a.dtype == b.dtype else xp.result_type(a, b)
    return a.dot(b, out=_cache.empty(xp, (a.shape[0], b.shape[1]), dtype))


def matmul_2d_plain(a, b):
    """a @ b."""
    return a @ b


# --- 6. sigmoid(x) and sigmoid(-x) from one exp ------------------------------

def sigmoid_pair(x):
    """(sigmoid(x), sigmoid(-x)), each accurate, even where one is near 0.

    Plain idiom (:func:`sigmoid_pair_plain`): two sigmoids, two exps. Here, for an
    array, one exp: with e = exp(-|x|) and r = 1 / (1 + e) the pair is (r, e r)
    where x >= 0 and (e r, r) elsewhere; bitwise what the two sigmoids give.
    Gain: one exp and one division fewer per element (BCE from logits' gradient).
    A Tensor (``create_graph``) gets the plain pair, recorded.
    """
    if isinstance(x, Tensor):
        return sigmoid_pair_plain(x)
    xp = backend.get_array_module(x)
    e = xp.exp(-xp.abs(x))
    r = 1 / (1 + e)
    er = e * r
    nonneg = x >= 0
    return xp.where(nonneg, r, er), xp.where(nonneg, er, r)


def sigmoid_pair_plain(x):
    """(sigmoid(x), sigmoid(-x))."""
    from npgan.functions.activations import sigmoid
    return sigmoid(x), sigmoid(-x)


# --- 7. gradients summed into a reused array ---------------------------------

def add_grads(a, b):
    """a + b, two gradients of one tensor (D's weights get one from the real and one
    from the fake batch).

    Plain idiom (:func:`add_grads_plain`): ``a + b``. Here arrays of one dtype are
    added into a reused array (:func:`empty_like`): a large sum does not page in
    fresh memory (part of the cache's gain).
    """
    if isinstance(a, Tensor) or isinstance(b, Tensor) or a.dtype != b.dtype:
        return a + b
    return backend.get_array_module(a).add(a, b, out=empty_like(a))


def add_grads_plain(a, b):
    """a + b."""
    return a + b


# --- 8. a rule told which gradients to skip ----------------------------------

def backward_with_needs(fn, needs, gy, args):
    """``fn.backward(gy, *args)`` computing only the gradients ``needs`` asks for.

    Plain idiom (:func:`backward_with_needs_plain`): run the rule as recorded and
    drop the gradients nobody wants. Here ``fn.needs``, which every rule reads to
    skip a gradient, is narrowed to ``needs`` for the call and restored after:
    with ``inputs=`` (the G step's ``backward(inputs=G_params)``) D's layers then
    compute no weight gradients: 3 of D's matrix products skipped per G step.
    """
    recorded = fn.needs
    if needs is recorded:
        return fn.backward(gy, *args)
    fn.needs = needs
    gxs = fn.backward(gy, *args)
    fn.needs = recorded
    return gxs


def backward_with_needs_plain(fn, needs, gy, args):
    """fn.backward(gy, *args) as recorded, then None where ``needs`` is False."""
    gxs = fn.backward(gy, *args)
    if len(needs) == 1:
        return gxs if needs[0] else None
    return tuple(g if n else None for g, n in zip(gxs, needs))


# --- 9. optimizer rules over a flat buffer, in blocks -------------------------

BLOCK = 1 << 17  # elements per block of an update: 5 float32 blocks (2.5 MB) stay in the CPU cache


def blocks(*arrays):
    """Yield same-position blocks of equally shaped arrays, to update a large buffer in pieces.

    1-D arrays (the flat buffers) come in slices of BLOCK elements: every pass
    of an update rule then reads and writes cache-resident memory, where the
    whole 6 MB buffer of a big network would stream from RAM once per pass.
    Arrays of other shapes come whole, and so does every array on a GPU, where a
    block would cost a dozen kernel launches and there is no CPU cache to keep
    warm (one Adam step at MNIST size would be 156 to 234 launches). The rules
    are elementwise, so the numbers are the same either way.
    """
    n = arrays[0].size
    if _whole(arrays[0]):
        yield arrays
        return
    for lo in range(0, n, BLOCK):
        yield tuple(a[lo:lo + BLOCK] for a in arrays)


def _whole(a):
    """True when :func:`blocks` updates ``a`` in one piece: not flat, short, or not on the CPU."""
    return a.ndim != 1 or a.size <= BLOCK or backend.get_array_module(a) is not numpy


def _scratch(xp, p):
    """A work array as large as the largest block :func:`blocks` yields for ``p``: a
    BLOCK of a long flat buffer, or the whole of ``p`` (see :func:`_whole`)."""
    n = p.size if _whole(p) else BLOCK
    return _cache.empty(xp, (n,), p.dtype)


def sgd_update(p, b, lr):
    """p -= lr b, in place.

    Plain idiom: :func:`npgan.optim.sgd_rule`. Here block by block through one
    scratch array (:func:`blocks`), no temporary of the buffer's size.
    """
    xp = backend.get_array_module(p)
    scratch = _scratch(xp, p)
    for pb, bb in blocks(p, b):
        pb -= xp.multiply(bb, lr, out=scratch[:pb.size].reshape(pb.shape))


def adam_update(p, g, m, v, b1, b2, eps, step_size, bias_correction2_sqrt):
    """Adam's update of p, m and v, in place (step_size = lr / (1 - b1^t),
    bias_correction2_sqrt = sqrt(1 - b2^t)).

    Plain idiom: :func:`npgan.optim.adam_rule`, the three lines of the formula
    (``m = b1 m + (1 - b1) g`` ...), each making temporaries of the buffer's size.
    Here: over the whole flat buffer of an optimizer, a dozen in-place array calls
    per cache-sized block, through one scratch array. Same operations in the same
    order, so the same bits. Gain: one update per step however many layers there
    are (the flat buffer), every pass on cache-resident memory (the blocks).
    """
    xp = backend.get_array_module(p)
    scratch = _scratch(xp, p)
    for pb, gb, mb, vb in blocks(p, g, m, v):
        tmp = scratch[:pb.size].reshape(pb.shape)
        mb *= b1
        mb += xp.multiply(gb, 1 - b1, out=tmp)      # m = b1 m + (1 - b1) g
        vb *= b2
        tmp = xp.multiply(gb, gb, out=tmp)
        tmp *= 1 - b2
        vb += tmp                                   # v = b2 v + (1 - b2) g^2
        denom = xp.sqrt(vb, out=tmp)
        denom /= bias_correction2_sqrt
        denom += eps                                # sqrt(v) / sqrt(1 - b2^t) + eps
        tmp = xp.divide(mb, denom, out=tmp)
        tmp *= step_size
        pb -= tmp                                   # p -= m / denom * step_size


def rmsprop_update(p, g, v, alpha, lr, eps):
    """RMSprop's update of p and v, in place.

    Plain idiom: :func:`npgan.optim.rmsprop_rule`. Here in blocks through one
    scratch array, as :func:`adam_update`; the same bits.
    """
    xp = backend.get_array_module(p)
    scratch = _scratch(xp, p)
    for pb, gb, vb in blocks(p, g, v):
        tmp = scratch[:pb.size].reshape(pb.shape)
        vb *= alpha
        tmp = xp.multiply(gb, gb, out=tmp)
        tmp *= 1 - alpha
        vb += tmp                                   # v = a v + (1 - a) g^2
        denom = xp.sqrt(vb, out=tmp)
        denom += eps
        tmp = xp.divide(gb, denom, out=tmp)
        tmp *= lr
        pb -= tmp                                   # p -= g / (sqrt(v) + eps) * lr


# --- 10. normalization in fewer passes -----------------------------------------

def _subscripts(axes, ndim):
    """einsum subscripts summing over ``axes``: ('abcd', 'b') for axes (0, 2, 3) of 4 dims."""
    letters = "abcdefghijklmnopqrstuvwxyz"[:ndim]
    return letters, "".join(c for i, c in enumerate(letters) if i not in axes)


def sums(a, axes):
    """a summed over ``axes`` (the other axes kept, in order), for arrays or Tensors.

    Plain idiom (:func:`sums_plain`): ``a.sum(axis=axes)``. Here, for arrays, einsum's
    sum: 0.06 ms against 0.20 over axes (0, 2, 3) of a (64, 64, 14, 14) float32 array.
    The sum is taken in another order: the numbers agree to rounding.
    """
    if isinstance(a, Tensor) or not axes:
        return sums_plain(a, axes)
    letters, kept = _subscripts(axes, a.ndim)
    return backend.get_array_module(a).einsum(f"{letters}->{kept}", a)


def sums_plain(a, axes):
    """a.sum(axis=axes)."""
    return a.sum(axis=axes)


def sums_of_products(a, b, axes):
    """(a b) summed over ``axes``, for arrays or Tensors of one shape.

    Plain idiom (:func:`sums_of_products_plain`): ``(a * b).sum(axis=axes)``. Here, for
    arrays, one einsum: no temporary for a b (0.12 ms against 0.31 on (64, 64, 14, 14)).
    """
    if isinstance(a, Tensor) or isinstance(b, Tensor) or not axes:
        return sums_of_products_plain(a, b, axes)
    letters, kept = _subscripts(axes, a.ndim)
    return backend.get_array_module(a).einsum(f"{letters},{letters}->{kept}", a, b)


def sums_of_products_plain(a, b, axes):
    """(a * b).sum(axis=axes)."""
    return (a * b).sum(axis=axes)


def normalize(x, axes, eps):
    """(xhat, mean, var, inv_std) of :class:`npgan.functions.normalization.Normalize` for an
    array x: xhat = (x - mean) inv_std over ``axes``, var biased, inv_std = 1 / sqrt(var + eps);
    the statistics shaped for broadcasting (keepdims).

    Plain idiom (:func:`normalize_plain`): ``x.mean``, ``x - mean``, ``square(...).mean``,
    then ``* inv_std``: five passes and two temporaries. Here the sums are :func:`sums` and
    :func:`sums_of_products` (the squares of the centred x with no temporary) and the
    centred x goes into a reused array, scaled in place: four passes. Gain on
    (64, 64, 14, 14) float32: 0.77 ms against 1.45 (BatchNorm2d's forward). The sums are
    taken in another order, so the numbers agree to rounding (not bit for bit).
    """
    xp = backend.get_array_module(x)
    shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
    n = x.size // max(1, _prod(shape))
    mean = sums(x, axes).reshape(shape) / n
    xhat = xp.subtract(x, mean, out=empty_like(x))
    var = sums_of_products(xhat, xhat, axes).reshape(shape) / n
    inv_std = 1 / xp.sqrt(var + eps)
    xhat *= inv_std
    return xhat, mean, var, inv_std


def normalize_plain(x, axes, eps):
    """mean = mean(x), var = mean((x - mean)^2), inv_std = 1 / sqrt(var + eps),
    xhat = (x - mean) inv_std, over ``axes``."""
    xp = backend.get_array_module(x)
    mean = x.mean(axis=axes, keepdims=True)
    xc = x - mean
    var = xp.square(xc).mean(axis=axes, keepdims=True)
    inv_std = 1 / xp.sqrt(var + eps)
    return xc * inv_std, mean, var, inv_std


def normalize_grad(gy, y, inv_std, axes):
    """Normalize's rule, inv_std (gy - mean(gy) - y mean(gy y)) over ``axes`` (y = xhat).

    Plain idiom (:func:`normalize_grad_plain`): the formula with operators, seven passes
    and five temporaries. Here, for arrays, the two means by :func:`sums` and
    :func:`sums_of_products` and the rest in place in one reused array: six passes.
    Gain on (64, 64, 14, 14) float32: 1.5 ms against 2.4. Tensors (a rule under
    ``create_graph``) get the plain, recorded formula. The numbers agree to rounding.
    """
    if isinstance(gy, Tensor) or isinstance(y, Tensor) or isinstance(inv_std, Tensor):
        return normalize_grad_plain(gy, y, inv_std, axes)
    xp = backend.get_array_module(gy)
    n = gy.size // max(1, inv_std.size)
    mean_g = sums(gy, axes).reshape(inv_std.shape) / n
    mean_gy = sums_of_products(gy, y, axes).reshape(inv_std.shape) / n
    gx = xp.multiply(y, mean_gy, out=empty_like(gy))
    xp.subtract(gy, gx, out=gx)
    gx -= mean_g
    gx *= inv_std
    return gx


def normalize_grad_plain(gy, y, inv_std, axes):
    """(gy - mean(gy) - y mean(gy y)) inv_std, means over ``axes`` (arrays or Tensors)."""
    return (gy - gy.mean(axis=axes, keepdims=True)
            - y * (gy * y).mean(axis=axes, keepdims=True)) * inv_std


def affine(x, w, b):
    """x w + b for arrays (w and b broadcast against x): a normalization layer's affine map.

    Plain idiom (:func:`affine_plain`): ``x * w + b``, two fresh arrays of x's size. Here
    into one reused array (:func:`empty_like`): a large output does not page in fresh
    memory. The same bits.
    """
    y = backend.get_array_module(x).multiply(x, w, out=empty_like(x))
    y += b
    return y


def affine_plain(x, w, b):
    """x * w + b."""
    return x * w + b


def _prod(shape):
    n = 1
    for d in shape:
        n *= d
    return n
