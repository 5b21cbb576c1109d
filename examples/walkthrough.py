"""One discriminator step and one generator step of a tiny GAN, printed as you would do them by hand.

The GAN is small enough to print in full: 1-D data, 3 hidden units, a batch of 4.

    G: z (4, 1) -> Linear(1, 3) -> tanh -> Linear(3, 1) -> G(z)
    D: x (4, 1) -> Linear(1, 3) -> tanh -> Linear(3, 1) -> logit;  D(x) = sigmoid(logit)

For each step the script prints the forward pass layer by layer, the loss,
every backward rule as the engine runs it (recorded with ``npgan.trace``):
the formula from the op's docstring, the gradient dL/dy that arrives at the
op and the gradient dL/dx it sends to each input, and then Adam's update of
each parameter (m, v, the bias corrections and the step).

Every printed gradient is checked, as it is printed, against a central finite
difference: the forward pass is replayed from the recorded graph with that one
number nudged by +-1e-5 (float64 throughout), and (L(+) - L(-)) / 2e-5 must
agree with the engine's number. For dL/dx of one op the nudge reaches only that
op (what its backward rule claims); for dL/dy and for a parameter's gradient it
reaches every use.

    python examples/walkthrough.py                         # non-saturating G loss
    python examples/walkthrough.py --g-loss minimax        # Goodfellow et al.'s original
    python examples/walkthrough.py --quiet                 # one summary line; exit 1 if a check fails
    python examples/walkthrough.py --draw runs/walkthrough # also draw both steps' graphs (npgan.viz)

docs/walkthrough.md reads the output next to the lines of npgan that compute it.
"""
import os
import shutil

import npgan
from npgan import activations, backend, losses, nn, optim, runs, viz
from npgan import random as nprandom
from npgan.autograd import Tensor
from npgan.tools.tracing import trace

HIDDEN, BATCH = 3, 4
REAL_MEAN, REAL_STD = 4.0, 1.25
LR, BETAS, ADAM_EPS = 0.05, (0.5, 0.999), 1e-8
FD_EPS = 1e-5        # the step: truncation error ~eps^2, rounding error ~1e-16 / eps
FD_TOLERANCE = 1e-6  # largest |numeric - analytic| / max |gradient| accepted


def parse_args(argv):
    p = runs.ArgumentParser(
        description="Print one D step and one G step of a tiny GAN, every gradient checked "
                    "against finite differences.")
    p.add_argument("--g-loss", choices=["non-saturating", "minimax"], default="non-saturating")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true",
                   help="print only a summary; exit 1 if any finite-difference check fails")
    p.add_argument("--draw", metavar="DIR",
                   help="draw each step's graph into DIR (SVG with Graphviz's `dot`, else DOT text)")
    args = p.parse_args(argv)
    if args.seed < 0:
        p.error("--seed must be >= 0")
    if args.draw is not None:
        try:
            runs.check_output_folder(args.draw, "--draw")
        except runs.UsageError as exc:
            p.error(str(exc))
    return args


# --- printing numbers ------------------------------------------------------------

def fmt(a, indent=0):
    """An array as text to check by hand: 6 significant digits, a matrix one row per line.

    Rows after the first are indented by ``indent`` + 1 spaces, under the first row.
    """
    a = backend.to_numpy(a.data if isinstance(a, Tensor) else a)
    if a.ndim == 0:
        return f"{float(a):+.6g}"
    if a.ndim == 1:
        return "[" + " ".join(f"{float(v):+11.6g}" for v in a) + "]"
    rows = ["[" + " ".join(f"{float(v):+11.6g}" for v in row) + "]" for row in a]
    if a.shape[1] == 1 or a.shape[0] == 1:
        return "[" + " ".join(rows) + "]"
    return "[" + ("\n" + " " * (indent + 1)).join(rows) + "]"


def show(label, a, note=""):
    """``label = a   note``, a matrix's rows lined up under its first row."""
    text = f"{label} = "
    return text + fmt(a, len(text)) + (f"   {note}" if note else "")


# --- finite differences by replaying the recorded graph --------------------------

def forward_order(loss):
    """The Functions that computed ``loss``, each after the Functions that made its inputs."""
    order, seen = [], set()
    stack = [(loss.creator, False)]
    while stack:
        fn, inputs_done = stack.pop()
        if inputs_done:
            order.append(fn)
        elif id(fn) not in seen:
            seen.add(id(fn))
            stack.append((fn, True))
            stack.extend((x.creator, False) for x in fn.inputs if x.creator is not None)
    return order


def replay(order, loss, target, index, delta):
    """The loss recomputed from the recorded graph with one number nudged by ``delta``.

    ``target`` is a Tensor (element ``index`` of its value is nudged wherever it
    is used: the total derivative dL/dt), or a pair ``(fn, slot)`` (only the value
    that ``fn`` receives as input ``slot`` is nudged: what fn's backward rule
    returns for that input).
    """
    def nudged(a):
        a = backend.get_array_module(a).array(a, copy=True)
        a.reshape(-1)[index] += delta
        return a

    values = {}
    if isinstance(target, Tensor) and target.creator is None:
        values[id(target)] = nudged(target.data)
    for fn in order:
        xs = [values.get(id(x), x.data) for x in fn.inputs]
        if isinstance(target, tuple) and target[0] is fn:
            xs[target[1]] = nudged(xs[target[1]])
        out = fn.output()
        y = fn.forward(*xs)
        values[id(out)] = nudged(y) if out is target else y
    return float(values[id(loss)])


class FiniteDifferences:
    """Checks gradients of one loss against central differences and keeps the score."""

    def __init__(self):
        self.checked = 0      # gradients checked
        self.numbers = 0      # numbers in them
        self.worst = 0.0      # largest relative error seen
        self.failures = []

    def check(self, loss, target, analytic, what):
        """Compare ``analytic`` (an array) with (L(t + eps) - L(t - eps)) / 2 eps; returns a note."""
        analytic = backend.to_numpy(analytic)
        order = forward_order(loss)
        numeric = backend.get_array_module(analytic).zeros_like(analytic)
        flat = numeric.reshape(-1)  # a view: writing flat fills numeric
        for k in range(analytic.size):
            plus = replay(order, loss, target, k, FD_EPS)
            minus = replay(order, loss, target, k, -FD_EPS)
            flat[k] = (plus - minus) / (2 * FD_EPS)
        scale = max(float(abs(analytic).max()), float(abs(numeric).max()), 1e-8)
        error = float(abs(numeric - analytic).max()) / scale
        self.checked += 1
        self.numbers += analytic.size
        self.worst = max(self.worst, error)
        if error > FD_TOLERANCE:
            self.failures.append(f"{what}: relative error {error:.2e}; engine {fmt(analytic)}, "
                                 f"finite differences {fmt(numeric)}")
            return f"FINITE DIFFERENCES DISAGREE: rel err {error:.1e}, numeric {fmt(numeric)}"
        return f"fd ok {error:.0e}"

    def summary(self):
        verdict = "all agree" if not self.failures else f"{len(self.failures)} DISAGREE"
        return (f"checked against finite differences: {self.checked} gradients "
                f"({self.numbers} numbers), max rel error {self.worst:.1e}, {verdict}")


# --- the steps ----------------------------------------------------------------

LAYER_TEXT = {nn.Linear: "{y} = {x} W^T + b", nn.Tanh: "{y} = tanh({x})"}
COLUMN = 34  # width of the labels in front of printed values


def run_layers(net, net_name, x, symbols, say):
    """Apply ``net`` layer by layer, naming and printing each output (the same graph as net(x))."""
    for i, y_name in enumerate(symbols):
        layer = net[i]
        x_name = x.name
        x = layer(x)
        x.name = y_name
        text = LAYER_TEXT[type(layer)].format(y=y_name, x=x_name)
        say(show(f"  {net_name}.{i} {type(layer).__name__:<6} {text}".ljust(COLUMN), x))
    return x


def print_backward(t, loss, fd, say):
    """Each recorded rule in its formula's letters: gy = dL/dy in, dx = dL/dx out per input.

    A tensor's name, when it has one, follows in brackets: ``dW [D.2.weight]``.
    """
    for r in t.records:
        fn = r.function
        out = fn.output()
        say(f"[{r.step}] {r.op}: {r.formula}")
        note = fd.check(loss, out, r.grad_out, f"{loss.name} step {r.step} {r.op} gy")
        say(show(f"    gy  {_bracket(out.name)}".ljust(COLUMN), r.grad_out, note))
        for slot, (x, g, arg) in enumerate(zip(fn.inputs, r.grad_ins, viz.argument_names(fn))):
            label = f"    d{arg:<3}{_bracket(r.input_names[slot])}".ljust(COLUMN)
            if g is None:
                why = ("a constant" if not x.requires_grad
                       else "not asked for: backward(inputs=G's parameters) skips it")
                say(f"{label}   (none: {why})")
                continue
            note = fd.check(loss, (fn, slot), g, f"{loss.name} step {r.step} {r.op} d{arg}")
            say(show(label, g, note))


def _bracket(name):
    return f"[{name}]" if name else ""


def adam_step(opt, named_params, loss, fd, say):
    """Check each gradient on the whole loss, take the Adam step, print m, v and the step."""
    b1, b2 = opt.betas
    xp = backend.get_array_module(opt.params[0].data)
    before = []
    for (name, p), state in zip(named_params, opt.state):
        note = fd.check(loss, p, p.grad.data, f"{name}.grad")
        m, v = state["exp_avg"], state["exp_avg_sq"]  # None before the first step: zeros
        before.append((p.numpy(), note,
                       backend.to_numpy(xp.zeros_like(p.data) if m is None else m),
                       backend.to_numpy(xp.zeros_like(p.data) if v is None else v)))
    opt.step()
    t = opt.steps
    say(f"Adam, step t = {t} (PyTorch's rule): lr {opt.lr:g}, betas ({b1:g}, {b2:g}), "
        f"eps {opt.eps:g}")
    if t == 1:
        say("  (m and v start at 0, so at t = 1 m_hat = g and v_hat = g^2: each step is "
            "lr g / |g| = +-lr, a sign step)")
    for (name, p), state, (p_before, fd_note, m, v) in zip(named_params, opt.state, before):
        g = p.grad.numpy()
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        step = opt.lr * m_hat / (v_hat ** 0.5 + opt.eps)
        mismatch = max(float(abs(backend.to_numpy(state["exp_avg"]) - m).max()),
                       float(abs(backend.to_numpy(state["exp_avg_sq"]) - v).max()),
                       float(abs((p_before - step) - p.numpy()).max()))
        if mismatch > 1e-12:
            fd.failures.append(f"{name}: optim.Adam differs from the formula by {mismatch:.1e}")
        say(f"  {name} {tuple(p.shape)}")
        say(show("    g     = dL/dp".ljust(COLUMN + 8), g, f"{fd_note} (on the whole loss)"))
        say(show(f"    m     = {b1:g} m + {1 - b1:g} g".ljust(COLUMN + 8), m))
        say(show(f"    v     = {b2:g} v + {1 - b2:.3g} g^2".ljust(COLUMN + 8), v))
        say(show(f"    m_hat = m / (1 - {b1:g}^{t})".ljust(COLUMN + 8), m_hat))
        say(show(f"    v_hat = v / (1 - {b2:g}^{t})".ljust(COLUMN + 8), v_hat))
        say(show("    step  = lr m_hat / (sqrt(v_hat) + eps)".ljust(COLUMN + 8), step))
        say(show("    p - step".ljust(COLUMN + 8), p,
                 f"(was {fmt(p_before)}; optim.Adam agrees to {mismatch:.0e})"))


def draw_graph(loss, G, D, draw_dir, stem, say):
    """Draw the graph of ``loss`` into draw_dir (before backward frees it), if asked to."""
    if not draw_dir:
        return
    os.makedirs(draw_dir, exist_ok=True)
    suffix = ".svg" if shutil.which("dot") else ".dot"  # DOT text needs no Graphviz
    path = viz.draw(loss, os.path.join(draw_dir, stem + suffix), modules={"G": G, "D": D},
                    show_values=True)
    say(f"(the graph of {loss.name} is drawn in {path})")


def d_step(G, D, d_opt, fd, say, draw_dir=None):
    """L_D = mean softplus(-a) + mean softplus(b) on a real and a detached fake batch; update D."""
    say("\n=== Discriminator step ===")
    x = nprandom.normal(REAL_MEAN, REAL_STD, (BATCH, 1))
    x.name = "x"
    z = nprandom.rand(BATCH, 1)
    z.name = "z"
    say(show(f"x ~ N({REAL_MEAN:g}, {REAL_STD:g}^2), real batch".ljust(COLUMN), x))
    say(show("z ~ U[0, 1), noise".ljust(COLUMN), z))
    say("G(z), then detached: this step trains D only, so no gradient flows into G")
    fake = run_layers(G, "G", z, ["g1", "g2", "G(z)"], say).detach()
    fake.name = "G(z)"
    say("D on the real batch:")
    a = run_layers(D, "D", x, ["r1", "r2", "a"], say)
    say(show("  D(x) = sigmoid(a)".ljust(COLUMN), activations.sigmoid(a.data)))
    say("D on the fake batch:")
    b = run_layers(D, "D", fake, ["f1", "f2", "b"], say)
    say(show("  D(G(z)) = sigmoid(b)".ljust(COLUMN), activations.sigmoid(b.data)))
    loss = losses.discriminator_loss(a, b)
    loss.name = "L_D"
    sp_real, sp_fake = activations.softplus(-a.data), activations.softplus(b.data)
    say("L_D = -mean log D(x) - mean log(1 - D(G(z))) = mean softplus(-a) + mean softplus(b)")
    say(show("  softplus(-a)".ljust(COLUMN), sp_real, f"mean {float(sp_real.mean()):.6g}"))
    say(show("  softplus(b)".ljust(COLUMN), sp_fake, f"mean {float(sp_fake.mean()):.6g}"))
    say(show("  L_D".ljust(COLUMN), loss))
    draw_graph(loss, G, D, draw_dir, "d_step", say)

    say("\nBackward, rule by rule in the order the engine runs them, in each formula's letters:")
    say("gy = dL/dy arrives at the op from the loss, dx = dL/dx leaves it for input x "
        "[the tensor's name]")
    d_opt.zero_grad()
    with trace(modules={"G": G, "D": D}, keep_arrays=True) as t:
        loss.backward(retain_graph=True)  # retained only so the checks can replay the forward
    print_backward(t, loss, fd, say)
    say("")
    adam_step(d_opt, list(D.named_parameters("D.")), loss, fd, say)
    return loss.item()


def g_step(G, D, g_opt, g_loss, fd, say, draw_dir=None):
    """L_G on a fresh noise batch, through the just-updated D; update G only."""
    say(f"\n=== Generator step ({g_loss}) ===")
    z = nprandom.rand(BATCH, 1)
    z.name = "z"
    say(show("z ~ U[0, 1), fresh noise".ljust(COLUMN), z))
    say("G(z), now part of the graph:")
    fake = run_layers(G, "G", z, ["g1", "g2", "G(z)"], say)
    say("D, just updated, on the fake batch (its weights are used, not trained, here):")
    b = run_layers(D, "D", fake, ["f1", "f2", "b"], say)
    d_fake = activations.sigmoid(b.data)
    say(show("  D(G(z)) = sigmoid(b)".ljust(COLUMN), d_fake))
    loss = losses.GENERATOR_LOSSES[g_loss](b)
    loss.name = "L_G"
    if g_loss == "minimax":
        say("L_G = mean log(1 - D(G(z))) = -mean softplus(b)")
        say(show("  -softplus(b)".ljust(COLUMN), -activations.softplus(b.data)))
        expected, why = -d_fake / BATCH, "-sigmoid(b) / N = -D(G(z)) / N"
    else:
        say("L_G = -mean log D(G(z)) = mean softplus(-b)")
        say(show("  softplus(-b)".ljust(COLUMN), activations.softplus(-b.data)))
        expected, why = -(1 - d_fake) / BATCH, "(sigmoid(b) - 1) / N = -(1 - D(G(z))) / N"
    say(show("  L_G".ljust(COLUMN), loss))
    say(show(f"  dL_G/db = {why}", expected, "(dy of the Linear that made b, below)"))
    draw_graph(loss, G, D, draw_dir, f"g_step_{g_loss}", say)

    say("\nBackward, as npgan.gan does it: loss.backward(inputs=G's parameters), "
        "so D's weight gradients are not computed:")
    g_opt.zero_grad()
    with trace(modules={"G": G, "D": D}, keep_arrays=True) as t:
        loss.backward(inputs=g_opt.params, retain_graph=True)
    print_backward(t, loss, fd, say)
    say("")
    adam_step(g_opt, list(G.named_parameters("G.")), loss, fd, say)
    return loss.item()


def main(argv=None):
    """Run the walkthrough; returns 0, or 1 when a finite-difference or Adam check fails."""
    args = parse_args(argv)
    return runs.run_example("walkthrough.py", lambda backend_name: run(args), dtype="float64",
                            needs_plots=False)


def run(args):
    """Build the tiny GAN, take one D step and one G step, print them; the exit status."""
    say = (lambda *a: None) if args.quiet else print
    npgan.manual_seed(args.seed)
    G = nn.mlp([1, HIDDEN, 1], nn.Tanh)  # Linear(1, 3) -> tanh -> Linear(3, 1)
    D = nn.mlp([1, HIDDEN, 1], nn.Tanh)
    g_opt = optim.Adam(G.parameters(), lr=LR, betas=BETAS, eps=ADAM_EPS)
    d_opt = optim.Adam(D.parameters(), lr=LR, betas=BETAS, eps=ADAM_EPS)
    say(f"A tiny GAN, one D step and one G step by hand: float64, seed {args.seed}, "
        f"batch {BATCH}, {HIDDEN} hidden units, G loss {args.g_loss}")
    say("G and D: Linear(1, 3) -> tanh -> Linear(3, 1); D outputs a logit, "
        "D(x) = sigmoid(logit)")
    say("Initial parameters (PyTorch's init: uniform in +-1/sqrt(in_features)):")
    for name, p in list(G.named_parameters("G.")) + list(D.named_parameters("D.")):
        say(show(f"  {name:<11} {tuple(p.shape)}".ljust(COLUMN), p))
    fd = FiniteDifferences()
    d_loss = d_step(G, D, d_opt, fd, say, args.draw)
    g_loss = g_step(G, D, g_opt, args.g_loss, fd, say, args.draw)
    say("")
    for failure in fd.failures:
        print(f"FAILED {failure}")
    print(f"walkthrough ({args.g_loss}, seed {args.seed}): L_D {d_loss:.6f}, L_G {g_loss:.6f}; "
          f"{fd.summary()}")
    return 1 if fd.failures else 0

if __name__ == "__main__":
    runs.run_script(main, "walkthrough.py")
