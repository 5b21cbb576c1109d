"""An exponential moving average of a module's parameters (Yazici et al., 2019,
"The Unusual Effectiveness of Averaging in GAN Training"): the averaged generator
sits near the centre of the circles the live one keeps drawing around the equilibrium.
"""
import copy


class ExponentialMovingAverage:
    """An averaged copy of a module: ``avg = beta avg + (1 - beta) theta`` at each :meth:`update`.

    ``self.module`` is a deep copy of ``module`` whose parameters hold the
    average (use it for sampling; it is never trained). Its buffers (batch norm's
    running statistics) are copied from the live module at each update, not averaged. With ``warmup`` the
    decay at update t (1-based) is ``min(decay, (1 + t) / (10 + t))``, so the
    average forgets the initial weights quickly in short runs (as TensorFlow's
    ExponentialMovingAverage with ``num_updates``).
    """

    def __init__(self, module, decay=0.999, warmup=True):
        if not 0 <= decay < 1:
            raise ValueError(f"ExponentialMovingAverage: decay must be in [0, 1), got {decay!r}")
        self.source = module
        self.module = copy.deepcopy(module)
        for p in self.module.parameters():
            p.requires_grad = False
        self.decay = decay
        self.warmup = warmup
        self.updates = 0

    def update(self):
        """Move the average towards the source module's current parameters."""
        self.updates += 1
        beta = self.decay
        if self.warmup:
            beta = min(beta, (1 + self.updates) / (10 + self.updates))
        for avg, p in zip(self.module.parameters(), self.source.parameters()):
            avg.data *= beta
            avg.data += (1 - beta) * p.data
        for avg, b in zip(self.module.buffers(), self.source.buffers()):
            avg.data[...] = b.data  # batch norm's running statistics: the live ones, not averaged
