"""Gradient checking by central finite differences in float64.

``gradcheck(fn, inputs)`` compares the engine's gradient with a numeric one.
With a fixed random cotangent ``r`` (shaped like the output) it takes the
scalar s(x) = sum(fn(x) * r) and checks, for every input that requires grad:

* ``mode="element"`` (small inputs, and the way to learn): each element,
  ds/dx_i ~ (s(x + eps e_i) - s(x - eps e_i)) / (2 eps);
* ``mode="direction"`` (large layers): one random direction u per check,
  <grad s, u> ~ (s(x + eps u) - s(x - eps u)) / (2 eps).

``gradgradcheck`` runs the same check on the first derivatives themselves,
computed with ``create_graph=True``: it verifies every backward rule a
gradient penalty differentiates through.

Central differences have error O(eps^2); with eps = 1e-6 in float64 they
agree with an exact gradient to about 1e-8 for smooth functions. Keep inputs
away from kinks (ReLU at 0) where the numeric derivative is meaningless.
"""
import math

from npgan import backend
from npgan.autograd import Tensor
from npgan.backward import grad


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree (the message says where and by how much)."""


def _prepare(inputs):
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"gradcheck: input {i} is a {type(x).__name__}, not a Tensor")
        if x.requires_grad and x.dtype != backend.float64:
            raise TypeError(
                f"gradcheck: input {i} has dtype {x.dtype}; finite differences need float64 "
                f"inputs (create them with dtype='float64')")
    checked = [i for i, x in enumerate(inputs) if x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; nothing to check")
    return inputs, checked


def _as_output(out, what):
    if not isinstance(out, Tensor):
        raise TypeError(f"{what}: fn must return a Tensor, got {type(out).__name__}")
    return out


def _first_non_finite(array):
    """(index tuple, value) of the first NaN or infinite element of ``array``, or None.

    The index is computed on the host (numpy), so it works for CuPy arrays too.
    """
    host = backend.to_numpy(array)
    bad = backend.numpy.flatnonzero(~backend.numpy.isfinite(host))
    if not bad.size:
        return None
    k = int(bad[0])
    index = tuple(int(j) for j in backend.numpy.unravel_index(k, host.shape)) if host.ndim else ()
    return index, host.reshape(-1)[k].item()


def _check(fn, inputs, eps, atol, rtol, mode, seed, raise_exception, what):
    inputs, checked = _prepare(inputs)
    rng = backend.Generator(seed, backend.backend_name(inputs[checked[0]].data))
    out = _as_output(fn(*inputs), what)
    found = _first_non_finite(out.data)
    if found is not None:  # no derivative is meaningful there: never pass
        message = (f"{what} failed: the function's output is {found[1]} at index {found[0]} "
                   f"(shape {out.shape}): not finite at the checked point; check away from it")
        if raise_exception:
            raise GradcheckError(message)
        return False
    r = rng.standard_normal(out.shape, out.dtype)

    def s_value():  # not under no_grad: gradgradcheck's fn itself calls grad()
        return float((fn(*inputs).data * r).sum())

    if out.requires_grad:
        analytic = grad((out * r).sum(), [inputs[i] for i in checked], allow_unused=True)
    else:  # no graph: the engine says the derivative is zero everywhere
        analytic = [None] * len(checked)
    problems = []
    for i, ga in zip(checked, analytic):
        x = inputs[i]
        xp = backend.get_array_module(x.data)
        ga = xp.zeros_like(x.data) if ga is None else ga.data
        found = _first_non_finite(ga)
        if found is not None:  # NaN compares false with any tolerance: catch it by name
            problems.append(f"input {i} (shape {x.shape}): the analytic gradient is {found[1]} "
                            f"at index {found[0]}")
            continue
        original = x.data.copy()
        if mode == "element":
            x.data = original.copy()  # C-contiguous and writable even if the input was not
            flat = x.data.reshape(-1)  # a view: writes perturb x in place
            numeric = xp.zeros(x.numel(), dtype=backend.float64)
            for k in range(x.numel()):
                v = original.reshape(-1)[k]
                flat[k] = v + eps
                plus = s_value()
                flat[k] = v - eps
                minus = s_value()
                flat[k] = v
                numeric[k] = (plus - minus) / (2 * eps)
            numeric = numeric.reshape(x.shape)
            x.data = original
            found = _first_non_finite(numeric)
            if found is not None:
                problems.append(f"input {i} (shape {x.shape}): the numeric gradient is "
                                f"{found[1]} at index {found[0]} (the function is not finite "
                                f"within eps={eps:g} of the point)")
                continue
            diff = xp.abs(numeric - ga)
            bad = diff > atol + rtol * xp.abs(numeric)
            if bool(bad.any()):
                k = int(xp.argmax(diff - (atol + rtol * xp.abs(numeric))))
                # on the host: CuPy's unravel_index takes a device array, not this int
                idx = tuple(int(j) for j in backend.numpy.unravel_index(k, x.shape)) if x.ndim else ()
                problems.append(
                    f"input {i} (shape {x.shape}): {int(bad.sum())} of {x.numel()} elements disagree; "
                    f"worst at index {idx}: analytic {float(ga.reshape(-1)[k]):.10g}, "
                    f"numeric {float(numeric.reshape(-1)[k]):.10g}, "
                    f"max abs diff {float(diff.max()):.3g}")
        elif mode == "direction":
            u = rng.standard_normal(x.shape, x.dtype)
            x.data = original + eps * u
            plus = s_value()
            x.data = original - eps * u
            minus = s_value()
            numeric = (plus - minus) / (2 * eps)
            projected = float((ga * u).sum())
            x.data = original
            if not (math.isfinite(numeric) and math.isfinite(projected)):
                problems.append(
                    f"input {i} (shape {x.shape}): directional derivative along a random "
                    f"direction is not finite: analytic {projected}, numeric {numeric}")
                continue
            if abs(numeric - projected) > atol + rtol * abs(numeric):
                problems.append(
                    f"input {i} (shape {x.shape}): directional derivative along a random "
                    f"direction: analytic {projected:.10g}, numeric {numeric:.10g}, "
                    f"abs diff {abs(numeric - projected):.3g}")
        else:
            raise ValueError(f"{what}: mode must be 'element' or 'direction', got {mode!r}")
        x.data = original
    if problems:
        if raise_exception:
            raise GradcheckError(f"{what} failed:\n  " + "\n  ".join(problems))
        return False
    return True


def gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, mode="element", seed=0,
              raise_exception=True):
    """Check the first derivatives of ``fn`` at ``inputs`` against central differences.

    Args:
        fn: a function of Tensors returning a Tensor (any shape).
        inputs: a Tensor or list of Tensors; those with requires_grad are checked
            and must be float64.
        eps: the finite-difference step.
        atol, rtol: an element passes when |numeric - analytic| <= atol + rtol |numeric|.
        mode: "element" (every element) or "direction" (one random direction per input).
        seed: seeds the random cotangent and directions.
        raise_exception: raise :class:`GradcheckError` on failure (else return False).

    Returns True when every checked gradient agrees.
    """
    return _check(fn, inputs, eps, atol, rtol, mode, seed, raise_exception, "gradcheck")


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, mode="element", seed=0,
                  raise_exception=True):
    """Check the second derivatives of ``fn``: gradcheck of its first derivatives.

    The first derivatives are g_i = d sum(fn(x) * r) / dx_i, computed with
    ``create_graph=True``; the function checked is sum_i sum(g_i * w_i) for
    fixed random w_i, so every backward rule on the path is itself differentiated.
    """
    inputs, checked = _prepare(inputs)
    probe = _as_output(fn(*inputs), "gradgradcheck")
    rng = backend.Generator(seed + 1, backend.backend_name(probe.data))
    r = rng.standard_normal(probe.shape, probe.dtype)
    ws = [rng.standard_normal(inputs[i].shape, inputs[i].dtype) for i in checked]

    def first_derivatives(*xs):
        out = fn(*xs)
        gs = grad((out * r).sum(), [xs[i] for i in checked], create_graph=True,
                  allow_unused=True)
        total = None
        for g, w in zip(gs, ws):
            if g is not None:  # None: the output does not depend on that input at all
                term = (g * w).sum()
                total = term if total is None else total + term
        return total if total is not None else (out * 0.0).sum().detach()

    return _check(first_derivatives, inputs, eps, atol, rtol, mode, seed, raise_exception,
                  "gradgradcheck")
