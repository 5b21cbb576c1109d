"""GAN objectives by name: minimax, non-saturating (with WGAN-GP's gradient penalty, R1's,
or neither), Wasserstein (WGAN) and WGAN-GP.

The discriminator (a *critic* for the Wasserstein objectives) returns one
unbounded score per sample: a = D(x) on real data, b = D(G(z)) on fakes.

    "gan"      (Goodfellow et al., 2014)   L_D = mean softplus(-a) + mean softplus(b)
                                           L_G = -mean softplus(b)  = mean log(1 - sigmoid(b))
    "ns"       (same paper, Section 3)     L_D as "gan";  L_G = mean softplus(-b) = -mean log sigmoid(b)
    "ns-gp"    (Fedus et al., 2018, "Many   "ns" plus WGAN-GP's penalty below, on D's logit
               Paths to Equilibrium")      (that paper pairs the penalty with the non-
                                           saturating loss; lambda is a choice: 1 on our
                                           2-D mixtures, see examples/mixtures.py)
    "ns-r1"    (Mescheder et al., 2018,    "ns" plus R1 = (gamma / 2) mean_i ||grad D(x_i)||^2
               "Which training methods     on REAL samples only: no gradient where the data
               for GANs do actually        are; optionally lazy (Karras et al., 2020):
               converge?")                 every k-th step, k times as strong
    "wgan"     (Arjovsky et al., 2017)     L_D = mean b - mean a;   L_G = -mean b
                                           + weight clipping: every critic weight into [-c, c]
                                           after each critic update (paper: c = 0.01,
                                           RMSprop lr 5e-5, n_critic = 5)
    "wgan-gp"  (Gulrajani et al., 2017)    L_D = mean b - mean a + lambda mean_i (||grad D(x_hat_i)||_2 - 1)^2
                                           L_G = -mean b
                                           x_hat = eps x + (1 - eps) x_fake, eps ~ U[0, 1] per sample
                                           (paper: lambda = 10, Adam lr 1e-4, betas (0, 0.9) or
                                           (0.5, 0.9), n_critic = 5)

Why Wasserstein: when the real and generated distributions do not overlap,
the Jensen-Shannon divergence the original D loss estimates is constant
(log 2), so its gradient vanishes; the Wasserstein-1 distance
W(P_r, P_g) = sup_{||f||_L <= 1} E_r f - E_g f still varies smoothly with G.
The critic maximises E_r D - E_g D (minimises L_D above) over (roughly)
1-Lipschitz functions: clipping keeps D K-Lipschitz for some K; the gradient
penalty asks for unit gradient norm on lines between real and fake points,
where the optimal critic has it (Gulrajani et al., Proposition 1).

The standard losses, from logits a and b, with D(.) = sigmoid(logit), written
with BCE from logits (:class:`npgan.functions.losses.BCEWithLogits`)::

    discriminator:   L_D = -log D(x) - log(1 - D(G(z))) = softplus(-a) + softplus(b)
    minimax G:       L_G = log(1 - D(G(z)))             = -softplus(b)
    non-saturating:  L_G = -log D(G(z))                 = softplus(-b)
"""
from npgan import backend, random
from npgan.autograd import Tensor
from npgan.backward import grad
from npgan.functions.helpers import as_tensor
from npgan.functions.losses import BCEWithLogits

# --- the GAN losses of Goodfellow et al. (from the discriminator's logits) ------

def _bce_against(logits, label):
    """mean BCE(sigmoid(logits), label) for a constant label, 1 (real) or 0 (fake)."""
    return BCEWithLogits("mean")(logits, as_tensor(label, logits))


def discriminator_loss(real_logits, fake_logits):
    """L_D = -mean log D(x) - mean log(1 - D(G(z))) = mean softplus(-a) + mean softplus(b)."""
    return _bce_against(real_logits, 1.0) + _bce_against(fake_logits, 0.0)


def minimax_generator_loss(fake_logits):
    """L_G = mean log(1 - D(G(z))) = -mean softplus(b): Goodfellow et al.'s original G loss.

    Saturates: when D rejects fakes confidently (b << 0), dL_G/db = -sigmoid(b) ~ 0.
    """
    return -_bce_against(fake_logits, 0.0)


def nonsaturating_generator_loss(fake_logits):
    """L_G = -mean log D(G(z)) = mean softplus(-b): the non-saturating G loss.

    dL_G/db = sigmoid(b) - 1 ~ -1 when D rejects fakes: strong early gradients.
    """
    return _bce_against(fake_logits, 1.0)


GENERATOR_LOSSES = {
    "minimax": minimax_generator_loss,
    "non-saturating": nonsaturating_generator_loss,
}


NORM_EPS = 1e-12
"""Added under the square root of the gradient norm, sqrt(sum g^2 + NORM_EPS), so its derivative
g / sqrt(sum g^2 + NORM_EPS) is finite (0) where the gradient is exactly 0."""


def wasserstein_critic_loss(real_scores, fake_scores):
    """L_D = mean D(G(z)) - mean D(x): minus the critic's estimate of W(P_r, P_g).

    dL_D/da_i = -1/n_real,  dL_D/db_j = 1/n_fake.
    """
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores):
    """L_G = -mean D(G(z)); dL_G/db_j = -1/n: the same pull at every fake, however bad.

    (E_r D does not depend on G, so minimising -E_g D minimises the W estimate.)
    """
    return -fake_scores.mean()


def clip_weights_(parameters, clip):
    """Clip every parameter into [-clip, clip] in place (WGAN's crude Lipschitz constraint).

    p.data <- min(max(p.data, -c), c) elementwise, written into the same array
    (``out=p.data``), so parameters that are views of an optimizer's flat
    buffer stay views and the optimizer keeps working. Call it after each
    critic update (Arjovsky et al., 2017, Algorithm 1: c = 0.01).
    """
    if not clip > 0:
        raise ValueError(f"clip_weights_: clip must be > 0, got {clip!r}")
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"clip_weights_: expected Tensors (parameters), got {type(p).__name__}")
        xp = backend.get_array_module(p.data)
        xp.clip(p.data, -clip, clip, out=p.data)


def interpolate(real, fake, eps=None):
    """x_hat = eps x + (1 - eps) x_fake with one eps ~ U[0, 1) per sample (row), as a leaf.

    ``eps`` (shape (N, 1, ...) or (N,)) may be given to make the result deterministic.
    The result is detached from G and requires grad, ready for ``grad(D(x_hat).sum(), [x_hat])``.
    """
    real_data = real.data if isinstance(real, Tensor) else real
    fake_data = fake.data if isinstance(fake, Tensor) else fake
    if tuple(real_data.shape) != tuple(fake_data.shape):
        raise ValueError(f"interpolate: real of shape {tuple(real_data.shape)} and fake of shape "
                         f"{tuple(fake_data.shape)} must have the same shape")
    n = real_data.shape[0]
    per_sample = (n,) + (1,) * (real_data.ndim - 1)
    if eps is None:
        eps = random.rand(*per_sample, dtype=real_data.dtype).data
    else:
        eps = eps.data if isinstance(eps, Tensor) else eps
        if eps.size != n:
            raise ValueError(f"interpolate: eps needs one value per sample ({n}), got shape "
                             f"{tuple(eps.shape)}")
        eps = eps.reshape(per_sample)
    return Tensor(eps * real_data + (1 - eps) * fake_data, requires_grad=True)


def _input_gradient_rows(critic, x):
    """grad_x of critic(x).sum() with its graph kept (create_graph), one row per score.

    ``x`` is a leaf that requires grad. Row i holds grad_x D(x_i) when the critic scores
    each sample on its own; under :class:`npgan.gan.Packed` a row is one pack's gradient.
    Both penalties below are built on it, so they are differentiable with respect to the
    critic's parameters (double backprop).
    """
    scores = critic(x)
    g, = grad(scores.sum(), [x], create_graph=True)
    return g.reshape(scores.shape[0], -1)


def gradient_penalty(critic, real, fake, weight=10.0, eps=None):
    """WGAN-GP's penalty lambda mean_i (||grad_x D(x_hat_i)||_2 - 1)^2 (Gulrajani et al., 2017).

    x_hat = eps x + (1 - eps) x_fake (:func:`interpolate`); the gradient is
    ``grad(D(x_hat).sum(), [x_hat], create_graph=True)`` (row i of it is
    grad D(x_hat_i), since sample i only affects output i), and its norm per
    sample is sqrt(sum_j g_ij^2 + NORM_EPS). The result is differentiable with
    respect to the critic's parameters (double backprop), so adding it to the
    critic loss and calling backward trains D towards unit gradient norm.

    Args:
        critic: a callable (a Module) mapping a batch to scores of shape (N, 1) or (N,).
        real, fake: batches of the same shape (Tensors or arrays); fake is treated as a constant.
        weight: lambda >= 0 (paper: 10).
        eps: optional per-sample interpolation weights (default: drawn from U[0, 1)).
    """
    if not weight >= 0:
        raise ValueError(f"gradient_penalty: weight must be >= 0, got {weight!r}")
    g = _input_gradient_rows(critic, interpolate(real, fake, eps))
    norm = ((g * g).sum(axis=1) + NORM_EPS) ** 0.5
    return weight * ((norm - 1) ** 2).mean()


def r1_penalty(discriminator, real, weight=1.0):
    """R1 (Mescheder et al., 2018): (gamma / 2) mean_i ||grad_x D(x_i)||^2 on real samples.

    Near a converged GAN, D should be flat on the data; a D that keeps sharpening its
    boundary around the training samples (as it does on a small dataset) has large
    gradients there, and R1 charges for them. Unlike :func:`gradient_penalty` it asks for
    zero gradient, not unit norm, and only at real points. The gradient is
    ``grad(D(x).sum(), [x], create_graph=True)`` with x a fresh leaf holding ``real``
    (row i of it is grad D(x_i) while D treats samples independently; with batch norm in
    training mode it also carries the batch's cross terms, as in PyTorch). The result is
    differentiable with respect to D's parameters (double backprop).

    Args:
        discriminator: a callable (a Module) mapping a batch to logits of shape (N, 1) or (N,).
        real: a batch of real samples (Tensor or array), treated as a constant.
        weight: gamma >= 0.
    """
    if not weight >= 0:
        raise ValueError(f"r1_penalty: weight must be >= 0, got {weight!r}")
    x = Tensor(real.data if isinstance(real, Tensor) else real, requires_grad=True)
    g = _input_gradient_rows(discriminator, x)
    return (weight / 2) * (g * g).sum(axis=1).mean()


class Objective:
    """A named GAN objective: D loss, G loss, and the critic's Lipschitz aid (clip or penalty).

    Attributes:
        name: "gan", "ns", "ns-gp", "wgan" or "wgan-gp".
        d_loss(real_scores, fake_scores), g_loss(fake_scores): the two losses.
        clip: weight-clipping bound c (None: no clipping).
        penalty_weight: lambda of the gradient penalty (None: no penalty).
        r1_weight: gamma of the R1 penalty on real samples (None: no R1).
        r1_every: R1 is added on every r1_every-th step, times r1_every ("lazy"; 1: every step).
        scores_are_logits: True when D's outputs are logits (report sigmoid as a probability).
    """

    def __init__(self, name, d_loss, g_loss, clip=None, penalty_weight=None,
                 scores_are_logits=True, r1_weight=None, r1_every=1):
        if clip is not None and not clip > 0:
            raise ValueError(f"Objective {name!r}: clip must be > 0, got {clip!r}")
        if penalty_weight is not None and not penalty_weight >= 0:
            raise ValueError(f"Objective {name!r}: penalty_weight must be >= 0, got {penalty_weight!r}")
        if r1_weight is not None and not r1_weight >= 0:
            raise ValueError(f"Objective {name!r}: r1_weight must be >= 0, got {r1_weight!r}")
        if not isinstance(r1_every, int) or isinstance(r1_every, bool) or r1_every < 1:
            raise ValueError(f"Objective {name!r}: r1_every must be a positive int, got {r1_every!r}")
        self.name = name
        self.d_loss, self.g_loss = d_loss, g_loss
        self.clip, self.penalty_weight = clip, penalty_weight
        self.scores_are_logits = scores_are_logits
        self.r1_weight, self.r1_every = r1_weight, r1_every

    def __repr__(self):
        r1 = "" if self.r1_weight is None else f", r1_weight={self.r1_weight!r}, r1_every={self.r1_every!r}"
        return (f"Objective({self.name!r}, clip={self.clip!r}, "
                f"penalty_weight={self.penalty_weight!r}{r1})")


OBJECTIVE_NAMES = ("gan", "ns", "ns-gp", "ns-r1", "wgan", "wgan-gp")


def get_objective(name, clip=0.01, penalty_weight=10.0, r1_weight=1.0, r1_every=1):
    """The :class:`Objective` called ``name`` (one of :data:`OBJECTIVE_NAMES`).

    ``clip`` is used by "wgan" only (paper: 0.01), ``penalty_weight`` by
    "wgan-gp" (paper: 10) and "ns-gp" only, ``r1_weight`` (gamma) and ``r1_every``
    by "ns-r1" only.
    """
    if name == "gan":
        return Objective(name, discriminator_loss, minimax_generator_loss)
    if name == "ns":
        return Objective(name, discriminator_loss, nonsaturating_generator_loss)
    if name == "ns-gp":
        return Objective(name, discriminator_loss, nonsaturating_generator_loss,
                         penalty_weight=penalty_weight)
    if name == "ns-r1":
        return Objective(name, discriminator_loss, nonsaturating_generator_loss,
                         r1_weight=r1_weight, r1_every=r1_every)
    if name == "wgan":
        return Objective(name, wasserstein_critic_loss, wasserstein_generator_loss, clip=clip,
                         scores_are_logits=False)
    if name == "wgan-gp":
        return Objective(name, wasserstein_critic_loss, wasserstein_generator_loss,
                         penalty_weight=penalty_weight, scores_are_logits=False)
    raise ValueError(f"get_objective: name must be one of {list(OBJECTIVE_NAMES)}, got {name!r}")
