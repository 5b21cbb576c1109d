"""The gradient checkers themselves: they pass correct rules and catch wrong ones."""
import numpy as np
import pytest

import npgan
from npgan import ops
from npgan.autograd import Function

MODES = ["element", "direction"]


def t64(a, requires_grad=True):
    return npgan.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad,
                        dtype="float64")


def x_input():
    return t64(np.random.default_rng(0).uniform(0.5, 2.0, size=(3, 2)))


# --- deliberately wrong ops ------------------------------------------------------------

class Square(Function):
    """y = x^2 with the correct rule dx = 2 gy x (differentiable: uses the Tensor x)."""

    def forward(self, x):
        return x * x

    def backward(self, gy, x, y):
        return 2 * gy * x


class SquareWrongFactor(Function):
    """y = x^2 with a wrong first derivative: 3 gy x instead of 2 gy x."""

    def forward(self, x):
        return x * x

    def backward(self, gy, x, y):
        return 3 * gy * x


class SquareDetachedBackward(Function):
    """y = x^2; first derivative right, but computed from data(x): the second derivative is lost."""

    def forward(self, x):
        return x * x

    def backward(self, gy, x, y):
        return 2 * gy * ops.raw(x)


class CubeWrongSecond(Function):
    """y = x^3; dx = 3 gy x data(x) is right in value but its derivative is 3x, not 6x."""

    def forward(self, x):
        return x * x * x

    def backward(self, gy, x, y):
        return 3 * gy * x * ops.raw(x)


class MulWrongSecondInput(Function):
    """y = a b with a right gradient for a and a wrong one for b (gy a + gy)."""

    def forward(self, a, b):
        return a * b

    def backward(self, gy, a, b, y):
        return (gy * b if self.needs[0] else None,
                gy * a + gy if self.needs[1] else None)


def apply(cls):
    return lambda *xs: cls()(*xs)


def _expect_failure(checker, fn, inputs, index, **kw):
    with pytest.raises(npgan.GradcheckError) as info:
        checker(fn, inputs, **kw)
    msg = str(info.value)
    assert f"input {index}" in msg
    assert "analytic" in msg and "numeric" in msg
    assert checker(fn, inputs, raise_exception=False, **kw) is False
    return msg


# --- correct rules pass -----------------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_correct_gradients_pass(backend_name, mode):
    x, y = x_input(), t64(np.random.default_rng(1).normal(size=(2, 4)))
    for fn, inputs in ((apply(Square), [x]), (lambda a: a * a, [x]),
                       (lambda a, b: ops.exp(a @ b).sum(axis=0), [x, y])):
        assert npgan.gradcheck(fn, inputs, mode=mode) is True
        assert npgan.gradgradcheck(fn, inputs, mode=mode) is True
        assert npgan.gradcheck(fn, inputs, mode=mode, raise_exception=False) is True


def test_inputs_without_requires_grad_are_constants(backend_name):
    x, c = x_input(), t64(np.full((3, 2), 2.0), requires_grad=False)
    assert npgan.gradcheck(lambda a, b: a * b, [x, c])
    assert npgan.gradgradcheck(lambda a, b: a * a * b, [x, c])
    # a constant input may be float32: only checked inputs need float64
    c32 = npgan.tensor(np.full((3, 2), 2.0, dtype=np.float32))
    assert npgan.gradcheck(lambda a, b: a * b.astype("float64"), [x, c32])


def test_single_tensor_input_accepted(backend_name):
    assert npgan.gradcheck(lambda a: ops.log(a), x_input())


# --- wrong first derivatives fail --------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
def test_wrong_first_derivative_fails(backend_name, mode):
    msg = _expect_failure(npgan.gradcheck, apply(SquareWrongFactor), [x_input()], 0, mode=mode)
    assert "gradcheck" in msg


def test_gradgradcheck_checks_second_against_first_derivatives(backend_name):
    """gradgradcheck differentiates the engine's own first derivative numerically: a rule that
    is wrong at first order but differentiable (3 gy x for x^2) is consistent at second order,
    so catching it is gradcheck's job; run both (as the op tests do)."""
    x = x_input()
    assert npgan.gradgradcheck(apply(SquareWrongFactor), [x])
    with pytest.raises(npgan.GradcheckError):
        npgan.gradcheck(apply(SquareWrongFactor), [x])


@pytest.mark.parametrize("mode", MODES)
def test_wrong_gradient_of_second_input_is_named(backend_name, mode):
    a, b = x_input(), t64(np.random.default_rng(2).normal(size=(3, 2)))
    msg = _expect_failure(npgan.gradcheck, apply(MulWrongSecondInput), [a, b], 1, mode=mode)
    assert "input 0" not in msg          # the right gradient of a is not blamed


def test_element_mode_reports_worst_element(backend_name):
    x = x_input()
    msg = _expect_failure(npgan.gradcheck, apply(SquareWrongFactor), [x], 0)
    assert "6 of 6 elements disagree" in msg and "(3, 2)" in msg


def test_detached_function_has_zero_analytic_gradient(backend_name):
    """An op that silently cuts the graph: the engine says 0, finite differences disagree."""
    _expect_failure(npgan.gradcheck, lambda a: a.detach() * 2.0, [x_input()], 0)
    _expect_failure(npgan.gradcheck, lambda a: a * 1.0 + a.detach() * a.detach(), [x_input()], 0)


def test_small_error_within_tolerance_passes_and_tight_tolerance_catches(backend_name):
    class SlightlyOff(Function):
        def forward(self, x):
            return x * x

        def backward(self, gy, x, y):
            return 2 * gy * x * (1 + 1e-7)

    x = x_input()
    assert npgan.gradcheck(apply(SlightlyOff), [x])
    with pytest.raises(npgan.GradcheckError):
        npgan.gradcheck(apply(SlightlyOff), [x], atol=1e-12, rtol=1e-9)


# --- wrong second derivatives fail (first derivatives right) --------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cls", [SquareDetachedBackward, CubeWrongSecond])
def test_wrong_second_derivative_fails_only_gradgradcheck(backend_name, mode, cls):
    x = x_input()
    assert npgan.gradcheck(apply(cls), [x], mode=mode)
    msg = _expect_failure(npgan.gradgradcheck, apply(cls), [x], 0, mode=mode)
    assert "gradgradcheck" in msg


def test_detached_backward_breaks_a_gradient_penalty(backend_name):
    """Why gradgradcheck matters: a penalty through SquareDetachedBackward gets no gradient."""
    x = t64([1.5, -0.5])
    g, = npgan.grad(SquareDetachedBackward()(x).sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), [3.0, -1.0])
    assert not g.requires_grad
    g, = npgan.grad(Square()(x).sum(), [x], create_graph=True)
    gg, = npgan.grad((g * g).sum(), [x])
    np.testing.assert_allclose(gg.numpy(), 8 * np.array([1.5, -0.5]))   # d/dx (2x)^2


# --- input validation --------------------------------------------------------------------

@pytest.mark.parametrize("checker", [npgan.gradcheck, npgan.gradgradcheck])
def test_float32_inputs_refused(backend_name, checker):
    x32 = npgan.tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match=r"input 0.*float32.*float64"):
        checker(lambda a: a * a, [x32])
    with pytest.raises(TypeError, match="input 1"):
        checker(lambda a, b: a * b, [x_input()[:2], x32])


@pytest.mark.parametrize("checker", [npgan.gradcheck, npgan.gradgradcheck])
def test_other_misuse(backend_name, checker):
    with pytest.raises(ValueError, match="no input requires grad"):
        checker(lambda a: a * a, [t64([1.0], requires_grad=False)])
    with pytest.raises(TypeError, match="not a Tensor"):
        checker(lambda a: a, [np.ones(2)])
    with pytest.raises(TypeError, match="must return a Tensor"):
        checker(lambda a: a.numpy(), [t64([1.0])])
    with pytest.raises(ValueError, match="mode"):
        checker(lambda a: a * a, [t64([1.0])], mode="elementwise")


def test_inputs_restored_after_check(backend_name):
    x_np = np.random.default_rng(5).normal(size=(3, 4))
    x = t64(x_np.copy())
    npgan.gradcheck(lambda a: a * a, [x])
    npgan.gradgradcheck(lambda a: a * a, [x], mode="direction")
    np.testing.assert_array_equal(x.numpy(), x_np)
    assert x.grad is None
    with pytest.raises(npgan.GradcheckError):
        npgan.gradcheck(apply(SquareWrongFactor), [x])
    np.testing.assert_array_equal(x.numpy(), x_np)


@pytest.mark.parametrize("mode", MODES)
def test_non_contiguous_and_read_only_inputs(backend_name, mode):
    """Element mode perturbs through a flat view: it must reach the input, whatever its layout."""
    base = np.random.default_rng(6).normal(size=(4, 3))
    transposed = t64(base.T)                                  # Fortran-ordered view
    assert npgan.gradcheck(lambda a: a * a, [transposed], mode=mode)
    assert npgan.gradgradcheck(lambda a: a * a * a, [transposed], mode=mode)
    with pytest.raises(npgan.GradcheckError):
        npgan.gradcheck(apply(SquareWrongFactor), [transposed], mode=mode)
    ro = base.copy()
    ro.flags.writeable = False
    readonly = npgan.tensor(ro, requires_grad=True, dtype="float64")
    assert npgan.gradcheck(lambda a: a * a, [readonly], mode=mode)


def test_scalar_input_and_output(backend_name):
    x = t64(1.3)
    assert npgan.gradcheck(lambda a: a * a * a, [x])
    assert npgan.gradgradcheck(lambda a: a * a * a, [x])
    with pytest.raises(npgan.GradcheckError):
        npgan.gradcheck(apply(SquareWrongFactor), [x])


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(npgan.GradcheckError, AssertionError)
