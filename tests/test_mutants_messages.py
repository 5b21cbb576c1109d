"""Every user-facing error message of the core, word for word (added for the mutation score,
tests/MUTATION.md): the existing tests match a word or two of each, so a message emptied,
wrapped in other text or naming the wrong value passed them. Each message says what went wrong,
with the values involved, and what to do instead."""
import re

import numpy as np
import pytest

import npgan
from npgan import functional as F, nn, optim, ops

T = npgan.tensor

cases = {  # what raises, by a short name
    "optim-single-tensor": lambda: optim.SGD(nn.Parameter(np.ones(2)), lr=0.1),
    "optim-empty": lambda: optim.Adam([]),
    "optim-no-grad": lambda: optim.RMSprop([nn.Parameter(np.ones(2)), T([1.0])]),
    "optim-non-leaf": lambda: optim.SGD([nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2)) * 2], lr=0.1),
    "opt-load-type": lambda: optim.SGD([nn.Parameter(np.ones(2))], lr=0.1).load_state_dict(optim.Adam([nn.Parameter(np.ones(2))]).state_dict()),
    "opt-load-count": lambda: optim.SGD([nn.Parameter(np.ones(2))], lr=0.1).load_state_dict(optim.SGD([nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))], lr=0.1).state_dict()),
    "tensor-int-grad": lambda: npgan.Tensor(np.array([1, 2]), requires_grad=True),
    "item": lambda: T([1.0, 2.0]).item(),
    "backward-nonscalar": lambda: (T([1.0, 2.0], requires_grad=True) * 2).backward(),
    "backward-grad-shape": lambda: (T([1.0, 2.0], requires_grad=True) * 2).backward(np.ones(3)),
    "backward-no-grad": lambda: T([1.0]).backward(),
    "grad-outputs-count": lambda: npgan.grad([T([1.0], requires_grad=True) * 2], [T([1.0], requires_grad=True)], grad_outputs=[None, None]),
    "grad-input-no-grad": lambda: npgan.grad(T([1.0], requires_grad=True).sum(), [T([1.0])]),
    "grad-unused": lambda: npgan.grad((T([1.0], requires_grad=True) * 2).sum(), [T([1.0, 2.0], requires_grad=True)]),
    "matmul-int-data": lambda: ops.matmul(T(np.ones((2, 2), dtype=np.int64)), T(np.ones((2, 2)), requires_grad=True)),
    "set-backend": lambda: npgan.set_backend("tpu"),
    "default-dtype": lambda: npgan.set_default_dtype("float16"),
    "manual-seed": lambda: npgan.manual_seed(-1),
    "reshape": lambda: T(np.ones(6)).reshape(4, 2),
    "transpose": lambda: ops.transpose(T(np.ones((2, 3))), (0, 0)),
    "axis": lambda: T(np.ones((2, 3))).sum(axis=2),
    "as-tensor": lambda: T([1.0]) + "a",
    "bce-reduction": lambda: F.binary_cross_entropy(T([0.5]), T([1.0]), reduction="avg"),
    "bcel-reduction": lambda: F.binary_cross_entropy_with_logits(T([0.5]), T([1.0]), reduction="avg"),
    "sce-reduction": lambda: F.softmax_cross_entropy(T(np.zeros((2, 3))), np.zeros(2, int), reduction="avg"),
    "sce-2d": lambda: F.softmax_cross_entropy(T(np.zeros(3)), np.zeros(2, int)),
    "sce-float": lambda: F.softmax_cross_entropy(T(np.zeros((2, 3), int)), np.zeros(2, int)),
    "sce-empty": lambda: F.softmax_cross_entropy(T(np.zeros((0, 3))), np.zeros(0, int)),
    "sce-label-dtype": lambda: F.softmax_cross_entropy(T(np.zeros((2, 3))), np.zeros(2)),
    "sce-label-range": lambda: F.softmax_cross_entropy(T(np.zeros((2, 3))), np.array([0, 3])),
    "softmax-scalar": lambda: F.softmax(T(1.0)),
    "dropout-p": lambda: F.dropout(T([1.0]), p=1.5),
    "Dropout-p": lambda: nn.Dropout(p=-0.5),
    "Linear-in": lambda: nn.Linear(0, 2),
    "Linear-out": lambda: nn.Linear(2, 2.5),
    "Linear-forward": lambda: nn.Linear(3, 2)(T(np.ones((4, 2)))),
    "Sequential-type": lambda: nn.Sequential(nn.ReLU(), 3),
    "Module-super": lambda: type("Bad", (nn.Module,), {"__init__": lambda self: setattr(self, "x", 1)})(),
    "Module-forward": lambda: nn.Module()(T([1.0])),
 }
def freed():
    x = T([1.0], requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    y.backward()
cases["freed"] = freed


def freed():
    x = T([1.0], requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    y.backward()


cases["freed"] = freed

EXPECTED = {  # the exception and its whole message
    'optim-single-tensor': (TypeError, 'SGD: params must be an iterable of tensors, got a single Tensor; pass [tensor] or model.parameters()'),
    'optim-empty': (ValueError, 'Adam: got an empty parameter list'),
    'optim-no-grad': (ValueError, 'RMSprop: parameter 1 does not require grad (pass model.parameters(), or tensors made with requires_grad=True)'),
    'optim-non-leaf': (ValueError, 'SGD: parameter 1 is not a leaf tensor (it was computed from other tensors), so it never receives a gradient; optimize the leaf tensors it was computed from'),
    'opt-load-type': (ValueError, 'SGD.load_state_dict: the state is from a Adam optimizer'),
    'opt-load-count': (ValueError, 'SGD.load_state_dict: the state holds 2 parameters, this optimizer has 1'),
    'tensor-int-grad': (TypeError, 'only floating tensors can require gradients, got dtype int64'),
    'item': (ValueError, 'item(): only one-element tensors convert to a Python number, got shape (2,)'),
    'backward-nonscalar': (RuntimeError, 'backward: grad can be implicitly created only for a one-element output, but this output has shape (2,); pass grad= (an array or Tensor of that shape), or reduce it first (e.g. .sum())'),
    'backward-grad-shape': (ValueError, 'backward: grad has shape (3,) but the output has shape (2,)'),
    'backward-no-grad': (RuntimeError, 'backward: this tensor does not require grad and has no graph; did you compute it under no_grad(), from detached tensors, or from tensors created without requires_grad=True?'),
    'grad-outputs-count': (ValueError, 'grad: 2 grad_outputs given for 1 outputs'),
    'grad-input-no-grad': (RuntimeError, 'grad: input 0 does not require grad; create it with requires_grad=True (or call .requires_grad_()) before the forward pass'),
    'grad-unused': (RuntimeError, 'grad: input 0 (shape (2,)) was not used to compute the outputs; pass allow_unused=True to get None for it'),
    'matmul-int-data': (TypeError, "MatMul: got int64 data with float64 weights; cast the data to float64 first (x.astype('float64'))"),
    'set-backend': (ValueError, "unknown backend 'tpu': choose one of numpy, cupy, gpusim"),
    'default-dtype': (ValueError, "set_default_dtype: float16 is not supported; use 'float32' or 'float64'"),
    'manual-seed': (ValueError, 'manual_seed: seed must be a non-negative int, got -1'),
    'reshape': (ValueError, 'reshape: cannot reshape a tensor of shape (6,) (6 elements) into shape (4, 2)'),
    'transpose': (ValueError, 'transpose: axes (0, 0) are not a permutation of 2 axes'),
    'axis': (ValueError, 'axis 2 is out of range for a tensor of 2 dimensions'),
    'as-tensor': (TypeError, 'cannot combine a Tensor with a str; use a number, an array, or npgan.tensor(...)'),
    'bce-reduction': (ValueError, "binary_cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    'bcel-reduction': (ValueError, "binary_cross_entropy_with_logits: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    'sce-reduction': (ValueError, "softmax_cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    'sce-2d': (ValueError, 'softmax_cross_entropy: logits must be 2-D (N samples, C classes), got shape (3,)'),
    'sce-float': (TypeError, 'softmax_cross_entropy: logits must be floating point, got dtype int64'),
    'sce-empty': (ValueError, 'softmax_cross_entropy: logits need at least one row and one class, got shape (0, 3)'),
    'sce-label-dtype': (TypeError, "softmax_cross_entropy: labels must be integer class indices in [0, 3), got dtype float64 (convert with labels.astype('int64'))"),
    'sce-label-range': (ValueError, 'softmax_cross_entropy: labels must lie in [0, 3) for 3 classes; labels[1] = 3 is out of range'),
    'softmax-scalar': (ValueError, 'softmax: needs an input with at least one dimension, got a scalar'),
    'dropout-p': (ValueError, 'dropout: p must be in [0, 1], got 1.5'),
    'Dropout-p': (ValueError, 'Dropout: p must be in [0, 1], got -0.5'),
    'Linear-in': (ValueError, 'Linear: in_features must be a positive int, got 0'),
    'Linear-out': (ValueError, 'Linear: out_features must be a positive int, got 2.5'),
    'Linear-forward': (ValueError, 'Linear(in_features=3, out_features=2): expected an input whose last dimension is 3, got shape (4, 2)'),
    'Sequential-type': (TypeError, 'Sequential: argument 1 is a int, not a Module'),
    'Module-super': (RuntimeError, 'Bad: call super().__init__() before assigning attributes'),
    'Module-forward': (NotImplementedError, 'Module must define forward()'),
    'freed': (npgan.FreedGraphError, 'backward through the graph a second time (Sum has already been freed): call backward(retain_graph=True) the first time if you need to backpropagate through the same graph again')
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_error_message_word_for_word(case):
    error, message = EXPECTED[case]
    with pytest.raises(error, match="^" + re.escape(message) + "$"):
        cases[case]()
