"""Six survivors of the second mutation run (tests/MUTATION.md) that no test killed yet:
backend names are case- and space-insensitive, a name that is not a string gets the
unknown-backend message, grad of a list of outputs sums their gradients, sum keeps no
dimensions by default, ELU's gradient at 0 is alpha gy, and modules pass keyword arguments."""
import numpy as np
import pytest

import npgan
from npgan import backend


def test_backend_names_ignore_case_and_surrounding_spaces():
    before = backend.get_backend()
    try:
        backend.set_backend(" NumPy ")
        assert backend.get_backend() == "numpy"
    finally:
        backend.set_backend(before)


def test_a_backend_name_that_is_not_a_string_gets_the_unknown_backend_message():
    with pytest.raises(ValueError, match=r"^unknown backend 5: choose one of "):
        backend.set_backend(5)


def test_grad_of_a_list_of_outputs_sums_their_gradients():
    x = npgan.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    (g,) = npgan.grad([(x * 2).sum(), (x * x).sum()], [x])
    np.testing.assert_allclose(np.asarray(g.data), [4.0, 6.0])


def test_sum_keeps_no_dimensions_by_default():
    from npgan.functions.shapes import sum as sum_
    x = npgan.Tensor(np.ones((2, 3), dtype=np.float32))
    assert sum_(x).shape == ()
    assert sum_(x, axis=0).shape == (3,)


def test_elu_gradient_at_zero_is_alpha_times_the_incoming_gradient():
    from npgan.functional import elu
    x = npgan.Tensor(np.array([0.0, -1.0, 1.0], dtype=np.float32), requires_grad=True)
    elu(x, alpha=2.0).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad.data), [2.0, 2.0 * np.exp(-1.0), 1.0], rtol=1e-6)


def test_a_module_passes_keyword_arguments_to_forward():
    class Scale(npgan.nn.Module):
        def forward(self, x, factor=1.0):
            return x * factor

    x = npgan.Tensor(np.array([1.0, 2.0], dtype=np.float32))
    np.testing.assert_allclose(np.asarray(Scale()(x, factor=3.0).data), [3.0, 6.0])
