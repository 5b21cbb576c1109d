"""TEST-ONLY: a stand-in for the GPU that keeps CuPy's rules on top of NumPy.

Select it like any backend, ``npgan.set_backend("gpusim")`` or ``NPGAN_BACKEND=gpusim``;
the test suite runs the engine's core tests on it. It catches the mistakes that
would only show on a GPU: it proves the code keeps to CuPy's rules, and proves
nothing about speed or about a real GPU (every number is computed by NumPy on
the CPU, more slowly than plain NumPy). Never train with it.

The rules, each one CuPy's (its documentation, "Differences between CuPy and
NumPy", and its source, cupy-cuda12x 14.2.0):

* No implicit conversion to a host array: ``numpy.asarray(x)`` raises TypeError,
  as CuPy's ``__array__`` does. ``x.get()``, ``asnumpy(x)``, ``float(x)``,
  ``int(x)``, ``bool(x)``, ``x.item()``, ``x.tolist()`` are explicit and work,
  and ``operator.index(x)`` fails (CuPy's ndarray has no ``__index__``).
* No NumPy array in an op with a device array (a ufunc, an operator, a function):
  TypeError. Python and NumPy scalars are fine; host arrays may be given to
  ``asarray``/``array``, used as indices, or assigned into a device array
  (CuPy copies them over).
* Only names CuPy has: the ufuncs, functions and dtypes below, the ndarray
  methods in ``_METHODS``, and ``random.RandomState`` with CuPy's method names
  (``random_sample``, ``standard_normal``, ``randint``, ...). Each was checked
  against ``dir()`` of cupy 14.2.0.
* Reductions and scalar indexing give 0-d arrays, not NumPy scalars.
* Integer-array indices out of range wrap around instead of raising IndexError.
* float32 arithmetic flushes subnormals to zero, inputs and results (CuPy compiles
  its kernels with ``-ftz=true``); float64 keeps them. Products are left alone.
* ``unravel_index`` takes an array of indices, not a Python int.

Random numbers come from NumPy's PCG64 seeded with the seed, not from cuRAND, so
they differ from both the numpy backend's and CuPy's draws.
"""
import builtins as _builtins
import copy as _copy
import math as _math
import types as _types

import numpy as _np

_TINY32 = float(_np.finfo(_np.float32).tiny)  # the smallest normal float32
_F32 = _np.dtype(_np.float32)
_NO_HOST = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` to "
            "construct a NumPy array explicitly. (npgan's gpusim stand-in, keeping CuPy's rules)")


def _mixed(what):
    return TypeError(f"gpusim: {what} got a NumPy array beside a device array; CuPy refuses "
                     f"mixing (Unsupported type <class 'numpy.ndarray'>): move it with "
                     f"asarray first")


class ndarray:  # noqa: N801 - CuPy's name
    """A device array of the stand-in: a NumPy array that only CuPy's operations reach."""

    __slots__ = ("_a",)
    __array_priority__ = 100
    __hash__ = None

    def __init__(self, a):
        self._a = a

    # --- host conversion: explicit only ----------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(_NO_HOST)

    def get(self):
        """A host (NumPy) copy, as ``cupy.ndarray.get``."""
        return self._a.copy()

    def set(self, arr):
        """Copy host array ``arr`` into this array, as ``cupy.ndarray.set``."""
        self._a[...] = arr

    def item(self, *args):
        return self._a.item(*args)

    def tolist(self):
        return self._a.tolist()

    def tobytes(self, order="C"):
        return self._a.tobytes(order)

    def __float__(self):
        return float(self._a.item()) if self._a.size == 1 else float(self._a)

    def __int__(self):
        return int(self._a.item()) if self._a.size == 1 else int(self._a)

    def __complex__(self):
        return complex(self._a.item())

    def __bool__(self):
        return bool(self._a)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for row in self._a:
            yield _wrap(row, {})

    def __repr__(self):
        return "gpusim." + repr(self._a)

    def __str__(self):
        return str(self._a)

    def __copy__(self):
        return ndarray(self._a.copy())

    def __deepcopy__(self, memo):
        return ndarray(_copy.deepcopy(self._a, memo))

    # --- attributes -----------------------------------------------------------------
    shape = property(lambda self: self._a.shape)

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    strides = property(lambda self: self._a.strides)
    flags = property(lambda self: self._a.flags)
    T = property(lambda self: ndarray(self._a.T))
    mT = property(lambda self: ndarray(self._a.mT))
    real = property(lambda self: ndarray(self._a.real))
    imag = property(lambda self: ndarray(self._a.imag))
    base = property(lambda self: None if self._a.base is None else ndarray(self._a.base))

    def __getattr__(self, name):
        if name in _METHODS:
            method = getattr(self._a, name)
            return lambda *args, **kwargs: _call(method, args, kwargs)
        raise AttributeError(f"gpusim: cupy.ndarray has no attribute {name!r}")

    # --- indexing: host indices are fine, integer-array indices wrap around -------------
    def __getitem__(self, key):
        return _wrap(self._a[_index(self._a.shape, key)], {})

    def __setitem__(self, key, value):
        self._a[_index(self._a.shape, key)] = _unwrap(value, True, {})

    # --- operators: every one goes through __array_ufunc__ ------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        mine = globals().get(func.__name__)
        if func.__name__ not in _FUNCTIONS or mine is None:
            raise TypeError(f"gpusim: no implementation of numpy.{func.__name__} in CuPy")
        return mine(*args, **kwargs)


from numpy.lib.mixins import NDArrayOperatorsMixin as _Ops  # noqa: E402

for _name, _op in vars(_Ops).items():  # __add__, __iadd__, __lt__, ...: each calls a ufunc
    if _name.startswith("__") and _name not in ("__module__", "__doc__", "__slots__", "__dict__",
                                                "__weakref__", "__qualname__"):
        setattr(ndarray, _name, _op)


def _unwrap(x, host_ok, keep):
    """``x`` with each stand-in array replaced by its NumPy array (remembered in ``keep``)."""
    if isinstance(x, ndarray):
        keep[id(x._a)] = x
        return x._a
    if isinstance(x, _np.ndarray):
        if not host_ok:
            raise _mixed("an op")
        return x
    if type(x) in (list, tuple):
        return type(x)(_unwrap(v, host_ok, keep) for v in x)
    return x


def _wrap(r, keep):
    """A NumPy result as stand-in arrays (the same object for an input or out= array)."""
    if isinstance(r, _np.ndarray):
        kept = keep.get(id(r))
        return kept if kept is not None else ndarray(r)
    if isinstance(r, _np.generic):  # CuPy gives 0-d arrays where NumPy gives scalars
        return ndarray(_np.asarray(r))
    if type(r) in (list, tuple):
        return type(r)(_wrap(v, keep) for v in r)
    return r


def _call(func, args, kwargs, host_ok=False):
    keep = {}
    args = _unwrap(tuple(args), host_ok, keep)
    kwargs = {k: _unwrap(v, host_ok, keep) for k, v in kwargs.items()}
    return _wrap(func(*args, **kwargs), keep)


def _index(shape, key):
    """``key`` for NumPy, integer arrays taken modulo their axis's length (CuPy wraps)."""
    key = key if isinstance(key, tuple) else (key,)
    key = tuple(_np.asarray(k) if isinstance(k, list) else _unwrap(k, True, {}) for k in key)
    used = _builtins.sum(k.ndim if isinstance(k, _np.ndarray) and k.dtype == bool else 1
               for k in key if k is not None and k is not Ellipsis)
    out, axis = [], 0
    for k in key:
        if k is None:
            out.append(k)
            continue
        if k is Ellipsis:
            axis += len(shape) - used
        elif isinstance(k, _np.ndarray) and k.dtype.kind in "iu" and axis < len(shape):
            k = k % shape[axis] if shape[axis] else k
        axis += k.ndim if isinstance(k, _np.ndarray) and k.dtype == bool else 1
        out.append(k)
    return tuple(out)


def _daz(x):
    """A float32 input as a CuPy kernel reads it: subnormals are zero."""
    if isinstance(x, _np.ndarray):
        if x.dtype == _F32:
            sub = (x != 0) & (_np.abs(x) < _TINY32)
            if sub.any():
                x = x.copy()
                _np.multiply(x, 0, out=x, where=sub)
        return x
    if isinstance(x, (float, _np.floating)) and 0 < _builtins.abs(x) < _TINY32:
        return type(x)(_math.copysign(0.0, x))
    return x


def _ftz(r):
    """Flush float32 subnormal results to (signed) zero, in place."""
    if isinstance(r, _np.ndarray) and r.dtype == _F32:
        _np.multiply(r, 0, out=r, where=(r != 0) & (_np.abs(r) < _TINY32))
    elif isinstance(r, _np.float32) and 0 < _builtins.abs(r) < _TINY32:
        r = _np.float32(_math.copysign(0.0, r))
    return r


def _apply_ufunc(uf, method, inputs, kwargs):
    keep = {}
    args = [_unwrap(x, False, keep) for x in inputs]
    kwargs = {k: _unwrap(v, False, keep) for k, v in kwargs.items()}
    out = kwargs.get("out")
    outs = out if isinstance(out, tuple) else () if out is None else (out,)
    flush = method == "__call__" and uf is not _np.matmul and _builtins.any(
        getattr(a, "dtype", None) == _F32 for a in list(args) + list(outs))
    if flush:
        args = [_daz(a) for a in args]
    r = getattr(uf, method)(*args, **kwargs)
    if flush:
        r = tuple(_ftz(x) for x in r) if isinstance(r, tuple) else _ftz(r)
    return _wrap(r, keep)


class ufunc:  # noqa: N801 - CuPy's name
    """A CuPy-style ufunc: refuses NumPy arrays, gives stand-in arrays (0-d for scalars)."""

    def __init__(self, np_ufunc):
        self._u = np_ufunc
        self.__name__ = np_ufunc.__name__
        self.nin, self.nout = np_ufunc.nin, np_ufunc.nout

    def __call__(self, *args, **kwargs):
        return _apply_ufunc(self._u, "__call__", args, kwargs)

    def __getattr__(self, method):
        if method not in ("at", "reduce", "accumulate", "outer", "reduceat"):
            raise AttributeError(f"gpusim: cupy.ufunc has no attribute {method!r}")
        return lambda *args, **kwargs: _apply_ufunc(self._u, method, args, kwargs)

    def __repr__(self):
        return f"<gpusim ufunc {self.__name__!r}>"


# --- what CuPy has (each name checked against dir() of cupy 14.2.0) ---------------------

_UFUNCS = """abs absolute add arccos arccosh arcsin arcsinh arctan arctan2 arctanh bitwise_and
bitwise_not bitwise_or bitwise_xor cbrt ceil copysign cos cosh deg2rad degrees divide equal
exp exp2 expm1 fabs floor floor_divide fmax fmin fmod greater greater_equal hypot invert
isfinite isinf isnan ldexp left_shift less less_equal log log10 log1p log2 logaddexp
logaddexp2 logical_and logical_not logical_or logical_xor maximum minimum mod multiply
negative nextafter not_equal positive power reciprocal remainder right_shift rint sign
signbit sin sinh sqrt square subtract tan tanh true_divide trunc""".split()

_FUNCTIONS = """all allclose amax amin any arange argmax argmin argsort array array_equal
asarray ascontiguousarray atleast_1d atleast_2d bincount broadcast_to can_cast clip concatenate
copy count_nonzero cumprod cumsum diag diff dot einsum empty empty_like expand_dims eye
flatnonzero flip full full_like hstack inner isclose isscalar linspace matmul max mean median
min moveaxis ndim nonzero ones ones_like outer pad prod promote_types ravel repeat reshape
result_type roll searchsorted shape size sort split squeeze stack std sum swapaxes take
tensordot tile transpose tril triu unique unravel_index var vstack where zeros zeros_like""".split()

_HOST_OK = {"asarray", "array", "ascontiguousarray"}  # host data in: a copy to the device

_METHODS = frozenset("""all any argmax argmin argpartition argsort astype clip compress conj
conjugate copy cumprod cumsum diagonal dot fill flatten max mean min nonzero partition prod
put ravel repeat reshape round searchsorted sort squeeze std sum swapaxes take trace
transpose var view""".split())

for _name in _UFUNCS:
    globals()[_name] = ufunc(getattr(_np, _name))


def _function(name):
    np_func = getattr(_np, name)

    def f(*args, **kwargs):
        return _call(np_func, args, kwargs, host_ok=name in _HOST_OK)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"CuPy's {name} on the stand-in (NumPy underneath)."
    return f


for _name in _FUNCTIONS:
    if _name != "unravel_index":
        globals()[_name] = _function(_name)


def unravel_index(indices, dims, order="C"):
    """As ``cupy.unravel_index``: ``indices`` must be a device array (a Python int is refused)."""
    if not isinstance(indices, ndarray):
        raise TypeError(f"gpusim: unravel_index needs a device array of indices, got "
                        f"{type(indices).__name__} (as CuPy)")
    return _call(_np.unravel_index, (indices, dims), {"order": order})


def asnumpy(a):
    """A host (NumPy) copy of a stand-in array (host data is copied as it is)."""
    return a.get() if isinstance(a, ndarray) else _np.array(a, copy=True)


for _name in ("bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 "
              "intp dtype finfo iinfo inf nan pi e newaxis").split():
    globals()[_name] = getattr(_np, _name)


class _RandomState:
    """``cupy.random.RandomState``'s methods (the ones npgan may call), drawn by NumPy's PCG64."""

    def __init__(self, seed=None):
        self._g = _np.random.Generator(_np.random.PCG64(seed))

    def seed(self, seed=None):
        self._g = _np.random.Generator(_np.random.PCG64(seed))

    def random_sample(self, size=None, dtype=float):
        return ndarray(_np.asarray(self._g.random(size, dtype=dtype)))

    def rand(self, *size, dtype=float):
        return self.random_sample(size or None, dtype)

    def standard_normal(self, size=None, dtype=float):
        return ndarray(_np.asarray(self._g.standard_normal(size, dtype=dtype)))

    def randn(self, *size, dtype=float):
        return self.standard_normal(size or None, dtype)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return ndarray(_np.asarray(self._g.uniform(low, high, size)).astype(dtype))

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return ndarray(_np.asarray(self._g.normal(loc, scale, size)).astype(dtype))

    def randint(self, low, high=None, size=None, dtype=int):
        if high is None:
            low, high = 0, low
        return ndarray(_np.asarray(self._g.integers(low, high, size, dtype=dtype)))

    def permutation(self, a):
        if isinstance(a, ndarray):
            return ndarray(self._g.permutation(a._a))
        if isinstance(a, _np.ndarray):
            raise _mixed("RandomState.permutation")
        return ndarray(self._g.permutation(a))

    def shuffle(self, a):
        if not isinstance(a, ndarray):
            raise TypeError("gpusim: RandomState.shuffle needs a device array")
        self._g.shuffle(a._a)


random = _types.SimpleNamespace(RandomState=_RandomState)

del _name, _op
