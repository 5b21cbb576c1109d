"""Optimizers with PyTorch's update rules: SGD, Adam and RMSprop.

After the first step() an optimizer holds its parameters in one flat buffer
and each ``p.data`` is a view into it, so one update covers every parameter
in a few array calls (a speed idiom: the updates themselves run in cache-sized
blocks, :func:`npgan.speed.adam_update`; :func:`adam_rule` and its siblings
are the same updates written as their formulas). Read parameters through ``p.data``; assigning a new
array to ``p.data`` is noticed and the buffer rebuilt.

Each updates ``p.data`` in place from ``p.grad`` (parameters without a
gradient are skipped, as in PyTorch), and counts that change in ``p._version``
as PyTorch's optimizers do: backward through a graph recorded before the step,
which saved the old values, then raises instead of mixing old and new values.
Hyperparameters are plain attributes (``opt.lr = 1e-4`` takes effect at the
next step) and Python floats, so a float32 model's parameters and optimizer
state stay float32.

With g the gradient and t the number of updates this parameter has had (1 on the first;
a step() where the parameter has no gradient does not count, as in PyTorch):

SGD:      b = g (t = 1), b = mu b + g (t > 1);      p -= lr b      (b = g when mu = 0)
Adam:     m = b1 m + (1 - b1) g;   v = b2 v + (1 - b2) g^2
          p -= (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
RMSprop:  v = a v + (1 - a) g^2;   p -= lr g / (sqrt(v) + eps)
"""
import math

from npgan import backend, speed
from npgan.autograd import Tensor, _bump


def sgd_rule(p, b, lr):
    """p -= lr b (SGD's step, in place; b = g, or the momentum buffer)."""
    p -= b * lr


def adam_rule(p, g, m, v, b1, b2, eps, step_size, bias_correction2_sqrt):
    """Adam's update of p, m and v in place; step_size = lr / (1 - b1^t),
    bias_correction2_sqrt = sqrt(1 - b2^t)."""
    xp = backend.get_array_module(p)
    m[...] = m * b1 + g * (1 - b1)
    v[...] = v * b2 + (g * g) * (1 - b2)
    p -= m / (xp.sqrt(v) / bias_correction2_sqrt + eps) * step_size


def rmsprop_rule(p, g, v, alpha, lr, eps):
    """RMSprop's update of p and v in place."""
    xp = backend.get_array_module(p)
    v[...] = v * alpha + (g * g) * (1 - alpha)
    p -= g / (xp.sqrt(v) + eps) * lr


class Optimizer:
    """Base class: the parameter list, per-parameter state arrays and the step count."""

    hyper_names = ()  # hyperparameters, saved by state_dict
    state_names = ()  # per-parameter state arrays, created on the first update

    def __init__(self, params):
        if isinstance(params, Tensor):  # list(tensor) would silently give its rows
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of tensors, got a single "
                f"Tensor; pass [tensor] or model.parameters()")
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not getattr(p, "requires_grad", False):
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} does not require grad "
                    f"(pass model.parameters(), or tensors made with requires_grad=True)")
            if not getattr(p, "is_leaf", True):  # non-leaf tensors never get a .grad
                raise ValueError(
                    f"{type(self).__name__}: parameter {i} is not a leaf tensor (it was "
                    f"computed from other tensors), so it never receives a gradient; "
                    f"optimize the leaf tensors it was computed from")
        self.steps = 0  # step() calls
        self.state = [self._fresh_state() for _ in self.params]
        self._same_dtype = len({(type(p.data), p.dtype) for p in self.params}) == 1
        self._flat = None  # built on the first fused step

    def _fresh_state(self):
        """A parameter's state before its first update: its update count and empty arrays."""
        state = {"step": 0}
        state.update(dict.fromkeys(self.state_names))
        return state

    def _check(self, ok, name, value, rule):
        if not ok:
            raise ValueError(f"{type(self).__name__}: {name} must be {rule}, got {value!r}")

    def zero_grad(self):
        """Clear ``.grad`` of every parameter (set it to None)."""
        for p in self.params:
            p.grad = None

    def step(self):
        """Apply one update to every parameter that has a gradient.

        In the usual case (every parameter has a gradient and the same update
        count) all parameters are updated together, a few array calls over one
        flat buffer (:meth:`_flat_buffers`); otherwise one parameter at a time.
        Both give the same numbers: the rules are elementwise.
        """
        self.steps += 1
        have_grad = [p.grad is not None for p in self.params]
        for st, has in zip(self.state, have_grad):
            if has:
                st["step"] += 1
        if self._same_dtype and all(have_grad) and len({st["step"] for st in self.state}) == 1:
            flat = self._flat_buffers()
            xp = backend.get_array_module(flat["param"])
            xp.concatenate([p.grad.data.reshape(-1) for p in self.params], out=flat["grad"])
            flat["state"]["step"] = self.state[0]["step"]
            self.update(flat["param"], flat["grad"], flat["state"])
        else:
            for p, st, has in zip(self.params, self.state, have_grad):
                if has:
                    self.update(p.data, p.grad.data, st)
        # changed in place: a graph that saved them must not backpropagate now
        _bump(*[p for p, has in zip(self.params, have_grad) if has])

    def _flat_buffers(self):
        """One contiguous buffer for all parameters, one for their gradients, one per state array.

        Each parameter's ``.data`` (and each state array) is a view into its
        buffer, so updating the buffer updates every parameter. If anything
        replaced a parameter's ``.data`` since (``load_state_dict``, say), the
        buffers are rebuilt from the current values.
        """
        flat = self._flat
        if flat is not None and all(p.data is v for p, v in zip(self.params, flat["views"])):
            return flat
        xp = backend.get_array_module(self.params[0].data)
        param = xp.concatenate([p.data.reshape(-1) for p in self.params])
        state = {"step": None}
        for n in self.state_names:
            state[n] = xp.concatenate([
                (st[n] if st[n] is not None else xp.zeros_like(p.data)).reshape(-1)
                for p, st in zip(self.params, self.state)])
        offset = 0
        for p, st in zip(self.params, self.state):
            end = offset + p.numel()
            p.data = param[offset:end].reshape(p.shape)
            for n in self.state_names:
                st[n] = state[n][offset:end].reshape(p.shape)
            offset = end
        self._flat = {"param": param, "grad": xp.empty_like(param), "state": state,
                      "views": [p.data for p in self.params]}
        return self._flat

    def update(self, p, g, state):
        """Update array ``p`` in place from gradient ``g`` and this parameter's ``state``."""
        raise NotImplementedError

    def state_dict(self):
        """Hyperparameters, step count and state arrays (host numpy copies)."""
        return {
            "type": type(self).__name__,
            "hyper": {n: getattr(self, n) for n in self.hyper_names},
            "steps": self.steps,
            "state": [{n: (backend.to_numpy(a) if backend.is_array(a) else a) for n, a in st.items()}
                      for st in self.state],
        }

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned; a mismatch is a ValueError and changes nothing."""
        name = type(self).__name__
        if state.get("type") != name:
            raise ValueError(f"{name}.load_state_dict: the state is from a {state.get('type')} optimizer")
        if len(state["state"]) != len(self.params):
            raise ValueError(
                f"{name}.load_state_dict: the state holds {len(state['state'])} parameters, "
                f"this optimizer has {len(self.params)}")
        for i, (p, st) in enumerate(zip(self.params, state["state"])):
            if set(st) != set(self._fresh_state()):
                raise ValueError(
                    f"{name}.load_state_dict: parameter {i} has state {sorted(st)}, "
                    f"expected {sorted(self._fresh_state())}")
            for n, a in st.items():
                if n != "step" and a is not None and tuple(a.shape) != p.shape:
                    raise ValueError(
                        f"{name}.load_state_dict: state {n!r} of parameter {i} has shape "
                        f"{tuple(a.shape)}, the parameter has shape {p.shape}")
        for n in self.hyper_names:  # a list from a JSON checkpoint is a tuple here (betas)
            value = state["hyper"][n]
            setattr(self, n, tuple(value) if isinstance(value, list) else value)
        self.steps = int(state["steps"])
        self._flat = None  # the state arrays are replaced: rebuild the buffers from them
        self.state = [{n: (int(a) if n == "step" else None if a is None
                           else backend.asarray(a, dtype=p.dtype).copy())
                       for n, a in st.items()} for p, st in zip(self.params, state["state"])]


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum (PyTorch's rule, no dampening)."""

    hyper_names = ("lr", "momentum")
    state_names = ("momentum_buffer",)

    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params)
        self._check(lr >= 0, "lr", lr, ">= 0")
        self._check(momentum >= 0, "momentum", momentum, ">= 0")
        self.lr, self.momentum = lr, momentum

    def update(self, p, g, state):
        if self.momentum != 0:
            buf = state["momentum_buffer"]
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()  # b = g at the first update
            else:
                buf *= self.momentum
                buf += g                                  # b = mu b + g
            g = buf
        speed.sgd_update(p, g, self.lr)  # sgd_rule(p, g, lr): p -= lr b, in blocks


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): bias-corrected moments, eps added to sqrt(v_hat) as in PyTorch."""

    hyper_names = ("lr", "betas", "eps")
    state_names = ("exp_avg", "exp_avg_sq")

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params)
        betas = tuple(betas)
        self._check(lr >= 0, "lr", lr, ">= 0")
        self._check(len(betas) == 2 and all(0 <= b < 1 for b in betas), "betas", betas,
                    "two numbers in [0, 1)")
        self._check(eps >= 0, "eps", eps, ">= 0")
        self.lr, self.betas, self.eps = lr, betas, eps

    def update(self, p, g, state):
        b1, b2 = self.betas
        xp = backend.get_array_module(p)
        if state["exp_avg"] is None:
            state["exp_avg"], state["exp_avg_sq"] = xp.zeros_like(p), xp.zeros_like(p)
        t = state["step"]
        step_size = self.lr / (1 - b1 ** t)
        bias_correction2_sqrt = math.sqrt(1 - b2 ** t)
        # adam_rule(...): the formula in the module docstring, in blocks of the flat buffer
        speed.adam_update(p, g, state["exp_avg"], state["exp_avg_sq"], b1, b2, self.eps,
                          step_size, bias_correction2_sqrt)


class RMSprop(Optimizer):
    """RMSprop (Hinton, lecture 6e) as PyTorch's default: no momentum, not centred."""

    hyper_names = ("lr", "alpha", "eps")
    state_names = ("square_avg",)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8):
        super().__init__(params)
        self._check(lr >= 0, "lr", lr, ">= 0")
        self._check(0 <= alpha <= 1, "alpha", alpha, "in [0, 1]")
        self._check(eps >= 0, "eps", eps, ">= 0")
        self.lr, self.alpha, self.eps = lr, alpha, eps

    def update(self, p, g, state):
        xp = backend.get_array_module(p)
        if state["square_avg"] is None:
            state["square_avg"] = xp.zeros_like(p)
        # rmsprop_rule(...): the formula in the module docstring, in blocks of the flat buffer
        speed.rmsprop_update(p, g, state["square_avg"], self.alpha, self.lr, self.eps)
