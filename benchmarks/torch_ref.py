"""The same GAN step in idiomatic PyTorch: the reference npgan is compared with.

Optional: nothing here is imported unless PyTorch is installed. Written the way
the PyTorch examples write a GAN step, so the comparison is fair:
``torch.nn`` modules, ``torch.optim.Adam``, ``zero_grad(set_to_none=True)``,
the fake batch of the D step made under ``torch.no_grad()``, D's parameters
``requires_grad_(False)`` during the G step (so no weight gradient of D is
computed there), ``BCEWithLogitsLoss`` (the stable softplus form), and, on
the CPU, ``torch.set_num_threads`` set to the machine's cores by the caller.
"""
import torch
from torch import nn


def mlp(sizes, act, slope=0.2, dropout=0.0, out_act="linear"):
    """Linear -> act (-> Dropout) per hidden layer, then Linear (-> Tanh)."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ELU() if act == "elu" else nn.LeakyReLU(slope))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    if out_act == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class TorchGAN:
    """G, D, their Adam optimizers and :meth:`step`, on ``device`` ("cpu" or "cuda")."""

    def __init__(self, g_sizes, d_sizes, act, batch, slope=0.2, d_dropout=0.0, g_out="linear",
                 noise="uniform", lr=2e-4, betas=(0.5, 0.999), eps=1e-8, device="cpu", seed=0):
        torch.manual_seed(seed)
        self._setup(mlp(g_sizes, act, slope, 0.0, g_out), mlp(d_sizes, act, slope, d_dropout),
                    batch, g_sizes[0], noise, lr, betas, eps, device)

    def _setup(self, G, D, batch, nz, noise, lr, betas, eps, device, adam=None,
               memory_format=None):
        """G and D on the device, their Adam optimizers (``adam``: None for PyTorch's default
        implementation, "foreach" or "fused"), the loss and the targets."""
        self.device = torch.device(device)
        self.G, self.D = G.to(self.device), D.to(self.device)
        if memory_format is not None:
            self.G, self.D = G.to(memory_format=memory_format), D.to(memory_format=memory_format)
        options = {} if adam is None else {adam: True}
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas, eps=eps, **options)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr, betas=betas, eps=eps, **options)
        self.criterion = nn.BCEWithLogitsLoss()
        self.batch, self.nz, self.noise = batch, nz, noise
        self.ones = torch.ones(batch, 1, device=self.device)
        self.zeros = torch.zeros(batch, 1, device=self.device)

    def sample_noise(self):
        """z ~ U[0, 1) or N(0, 1), shape (batch, noise_dim)."""
        if self.noise == "uniform":
            return torch.rand(self.batch, self.nz, device=self.device)
        return torch.randn(self.batch, self.nz, device=self.device)

    def step(self, real):
        """One D update then one G update on the real batch ``real``; returns (L_D, L_G)."""
        # D step: L_D = BCE(D(x), 1) + BCE(D(G(z)), 0), G(z) made without a graph
        with torch.no_grad():
            fake = self.G(self.sample_noise())
        self.opt_d.zero_grad(set_to_none=True)
        d_loss = self.criterion(self.D(real), self.ones) + self.criterion(self.D(fake), self.zeros)
        d_loss.backward()
        self.opt_d.step()
        # G step: L_G = BCE(D(G(z')), 1) (non-saturating); D's weights get no gradient
        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss = self.criterion(self.D(self.G(self.sample_noise())), self.ones)
        g_loss.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        return d_loss.item(), g_loss.item()


# --- DCGAN-B --------------------------------------------------------------------------------

def dcgan_models(c=64, nz=100, slope=0.2):
    """G and D of the DCGAN-B step with c channels (64 for DCGAN-B), as nn.Sequential."""
    G = nn.Sequential(
        nn.Linear(nz, 2 * c * 7 * 7), nn.BatchNorm1d(2 * c * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (2 * c, 7, 7)),
        nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.BatchNorm2d(c), nn.ReLU(),
        nn.ConvTranspose2d(c, 1, 4, 2, 1), nn.Tanh())
    D = nn.Sequential(
        nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(slope),
        nn.Conv2d(c, 2 * c, 4, 2, 1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(slope),
        nn.Flatten(), nn.Linear(2 * c * 7 * 7, 1))
    return G, D


#: PyTorch's CPU configurations the benchmark tries on the DCGAN-B step: (name, Adam
#: implementation, channels_last). "default" is what a plain script gets.
DCGAN_CONFIGS = (("default", None, False), ("foreach", "foreach", False), ("fused", "fused", False),
                 ("channels_last", None, True), ("channels_last+foreach", "foreach", True),
                 ("channels_last+fused", "fused", True))


class TorchDCGAN(TorchGAN):
    """The DCGAN-B step (:func:`dcgan_models`) with :meth:`TorchGAN.step`: D(x) and D(G(z)) in
    two passes (each with its own batch statistics), then the G step; normal noise.

    ``config``: a name of :data:`DCGAN_CONFIGS` (the Adam implementation, channels_last).
    """

    def __init__(self, batch, c=64, nz=100, slope=0.2, lr=2e-4, betas=(0.5, 0.999), eps=1e-8,
                 device="cpu", seed=0, config="default"):
        adam, channels_last = {n: (a, cl) for n, a, cl in DCGAN_CONFIGS}[config]
        torch.manual_seed(seed)
        G, D = dcgan_models(c, nz, slope)
        self.memory_format = torch.channels_last if channels_last else None
        self._setup(G, D, batch, nz, "normal", lr, betas, eps, device, adam, self.memory_format)

    def step(self, real):
        """One D update then one G update on ``real`` (N, 1, 28, 28); returns (L_D, L_G)."""
        if self.memory_format is not None:
            real = real.contiguous(memory_format=self.memory_format)
        return super().step(real)
