"""PacGAN's packed discriminator (Lin et al., 2018): D judges m samples at once."""
from npgan.nn import Module


class Packed(Module):
    """A discriminator that judges packs of ``m`` samples (PacGAN, Lin et al., 2018).

    Rows (N, d) become (N/m, m d): each row of D's input is m samples side by
    side, all real or all generated, and D returns one logit per pack. A
    generator that keeps drawing the same few modes is easier to spot in a
    pack than alone, which counters mode collapse. D's first layer must take
    m * d inputs; N must be a multiple of m (the batch size, in GANTrainer).
    """

    def __init__(self, discriminator, m):
        super().__init__()
        if not isinstance(m, int) or m < 1:
            raise ValueError(f"Packed: the pack size m must be a positive int, got {m!r}")
        self.D = discriminator
        self.m = m

    def forward(self, x):
        n = x.shape[0]
        if x.ndim != 2 or n % self.m:
            raise ValueError(f"Packed: expected a batch (N, d) with N a multiple of the pack "
                             f"size {self.m}, got shape {x.shape}; use a batch size divisible "
                             f"by {self.m}")
        return self.D(x.reshape(n // self.m, self.m * x.shape[1]))

    def extra_repr(self):
        return f"m={self.m}"
