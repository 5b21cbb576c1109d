"""Loss tests added for the mutation score (tests/MUTATION.md): each check's message names the
function it belongs to, and the clamped log's gradient is 0 (not inf, not 1/c) where the log is
clamped, including at the clamp point itself."""
import numpy as np
import pytest

import npgan
from npgan import functional as F, losses

SHAPE_WORDS = (r": input of shape \(2,\) and target of shape \(3,\) must have the same shape "
               r"\(reshape the target, e\.g\. target\.reshape\(input\.shape\)\)$")


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits",
                                  "mse_loss"])
def test_shape_mismatch_message_names_the_loss(name):
    with pytest.raises(ValueError, match="^" + name + SHAPE_WORDS):
        getattr(F, name)(npgan.tensor([0.5, 0.5]), npgan.tensor([1.0, 0.0, 1.0]))


def test_bce_out_of_range_message():
    with pytest.raises(ValueError, match=r"^binary_cross_entropy: input must hold probabilities in "
                                         r"\[0, 1\]; for unbounded scores use "
                                         r"binary_cross_entropy_with_logits$"):
        F.binary_cross_entropy(npgan.tensor([1.5]), npgan.tensor([1.0]))


def test_mse_bad_reduction_message():
    with pytest.raises(ValueError, match=r"^mse_loss: reduction must be 'mean', 'sum' or 'none', "
                                         r"got 'avg'$"):
        F.mse_loss(npgan.tensor([0.5]), npgan.tensor([1.0]), reduction="avg")


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_axis_message_names_the_function(name):
    with pytest.raises(ValueError, match=rf"^{name}: axis must be an int in \[-1, 1\) for an input "
                                         r"of shape \(2,\), got 1$"):
        getattr(F, name)(npgan.tensor([0.5, 0.5]), axis=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clamped_log_gradient_is_zero_where_the_log_is_clamped(dtype):
    """d/dx of the clamped log is 1/x where x > c and 0 where x <= c (the log is the constant
    -100 there), c = 2^-126 in float32, e^-100 in float64: 0 at x = 0 and at x = c itself."""
    c = (np.finfo(np.float32).tiny if dtype == "float32"
         else np.exp(np.float64(-100.0)))
    c = np.array(c, dtype=dtype)
    above = np.nextafter(c, np.array(1, dtype=dtype))
    values = np.array([0.0, c, above, 0.25, 1.0], dtype=dtype)
    x = npgan.tensor(values, requires_grad=True)
    y = losses.clamped_log(x)
    np.testing.assert_array_equal(
        y.numpy()[:2], np.array([-100.0, -100.0], dtype=dtype))
    y.sum().backward()
    g = x.grad.numpy()
    assert g.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(g[:2], [0.0, 0.0])
    np.testing.assert_allclose(g[2:], 1 / values[2:].astype(np.float64), rtol=1e-6)


LABELS_WORDS = (r"^softmax_cross_entropy: labels must have shape \(3,\), one class index per row "
                r"of logits of shape \(3, 2\), got shape ")


@pytest.mark.parametrize("shape, tail", [
    ((3, 2), r"\(3, 2\); for one-hot labels pass labels\.argmax\(axis=1\)$"),
    ((1, 3), r"\(1, 3\); flatten them with labels\.reshape\(-1\)$"),
    ((4,), r"\(4,\)$"),  # no hint fits: the message ends with the shape
], ids=["one-hot", "unflattened", "other"])
def test_label_shape_messages_give_the_fitting_hint(shape, tail):
    logits = npgan.tensor(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=LABELS_WORDS + tail):
        F.softmax_cross_entropy(logits, np.zeros(shape, dtype=np.int64))


def test_labels_on_the_host_beside_device_logits_name_the_loss():
    """Device logits (the gpusim stand-in) with host labels: refused, saying which function."""
    previous = npgan.backend.get_backend()
    npgan.set_backend("gpusim")
    try:
        logits = npgan.tensor(np.zeros((3, 2)))
        with pytest.raises(TypeError, match=r"^softmax_cross_entropy: cannot mix a \w+ array and "
                                            r"a numpy array in one op"):
            F.softmax_cross_entropy(logits, np.zeros(3, dtype=np.int64))
    finally:
        npgan.set_backend(previous)
