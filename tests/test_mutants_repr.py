"""The exact text of ``repr`` for tensors, parameters and modules (added for the mutation score,
tests/MUTATION.md): what a user reads in a REPL or a log line, character for character."""
import numpy as np

import npgan
from npgan import nn


def test_tensor_repr_is_numpys_text_with_dtype():
    assert repr(npgan.tensor([1.0, 2.5])) == "tensor([1.  2.5], dtype=float32)"


def test_tensor_repr_indents_continuation_lines_under_the_first():
    text = repr(npgan.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert text == "tensor([[1. 2.]\n        [3. 4.]], dtype=float32)"


def test_tensor_repr_says_requires_grad_only_when_set():
    x = npgan.tensor(np.array([1.5, -2.0]), requires_grad=True)
    assert repr(x) == "tensor([ 1.5 -2. ], dtype=float64, requires_grad=True)"
    assert repr(x.detach()) == "tensor([ 1.5 -2. ], dtype=float64)"


def test_tensor_repr_names_the_device_backend():
    """A tensor off the host says so (the gpusim stand-in is the GPU backend's double)."""
    previous = npgan.backend.get_backend()
    npgan.set_backend("gpusim")
    try:
        text = repr(npgan.tensor([1.0, 2.0], requires_grad=True))
    finally:
        npgan.set_backend(previous)
    assert text == "tensor([1. 2.], dtype=float32, backend='cupy', requires_grad=True)"


def test_parameter_repr_wraps_the_tensor_repr():
    p = nn.Parameter(np.array([1.0, 2.0]))
    assert repr(p) == "Parameter(tensor([1. 2.], dtype=float64, requires_grad=True))"


def test_module_repr_with_one_child_lists_it():
    assert repr(nn.Sequential(nn.ReLU())) == "Sequential(\n  (0): ReLU())"


def test_module_repr_with_children_and_settings():
    model = nn.Sequential(nn.Linear(2, 3), nn.LeakyReLU(0.2), nn.Sequential(nn.Tanh()))
    assert repr(model) == ("Sequential(\n"
                           "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
                           "  (1): LeakyReLU(negative_slope=0.2)\n"
                           "  (2): Sequential(\n"
                           "    (0): Tanh()))")
    assert repr(nn.Linear(4, 1, bias=False)) == "Linear(in_features=4, out_features=1, bias=False)"
