"""Why a transposed convolution is the backward of a convolution, on one channel, small enough to
print.

A convolution is linear in its input: y = C x for a matrix C that the script builds from the
engine, one column per input pixel (the response to an image that is 1 at that pixel and 0
elsewhere). Its transpose C^T maps the output's shape back to the input's shape, and

    conv_transpose2d(g, w) = C^T g = dL/dx   when   L = sum(conv2d(x, w) * g),

so the engine's backward rule for conv2d *is* a transposed convolution. With stride 2 the
same transpose maps a small map back to a big one: each input pixel paints a weighted copy of
the kernel, and the copies overlap where the stride is smaller than the kernel. That is the
"fractionally strided convolution" DCGAN's generator upsamples with.

Every printed claim is checked as it is printed; the values are small integers (in float64,
so every sum is exact) that a reader can redo by hand.

    python examples/transposed_conv.py           # what docs/transposed_convolution.md reads
    python examples/transposed_conv.py --seed 3  # other numbers, the same claims
    python examples/transposed_conv.py --quiet   # one summary line; exit 1 if a check fails
"""
import numpy as np

import npgan
import npgan.functional as F
from npgan import nn, runs


def parse_args(argv):
    p = runs.ArgumentParser(
        description="Print a one-channel convolution as a matrix C and check that the transposed "
                    "convolution, and the engine's backward, are C^T.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true",
                   help="print only a summary; exit 1 if any check fails")
    args = p.parse_args(argv)
    if args.seed < 0:
        p.error("--seed must be >= 0")
    return args


# --- the engine on one-channel images ------------------------------------------------

def image(a, requires_grad=False):
    """A 2-D array as a (1, 1, H, W) float64 Tensor: one image with one channel."""
    return npgan.tensor(np.asarray(a, dtype=np.float64)[None, None], requires_grad=requires_grad)


def conv(x, w, **geometry):
    """F.conv2d on one channel: 2-D arrays in, a 2-D array out."""
    return F.conv2d(image(x), image(w), **geometry).numpy()[0, 0]


def conv_t(g, w, **geometry):
    """F.conv_transpose2d on one channel: 2-D arrays in, a 2-D array out."""
    return F.conv_transpose2d(image(g), image(w), **geometry).numpy()[0, 0]


def matrix_of(linear_map, shape):
    """The matrix of a linear map of images of ``shape``: column k is the map of the image that
    is 1 at pixel k (row by row) and 0 elsewhere, flattened."""
    columns = []
    for k in range(shape[0] * shape[1]):
        unit = np.zeros(shape)
        unit.flat[k] = 1
        columns.append(linear_map(unit).reshape(-1))
    return np.stack(columns, axis=1)


def input_grad(x, w, g, **geometry):
    """dL/dx for L = sum(conv2d(x, w) * g), by the engine's backward."""
    xt = image(x, requires_grad=True)
    (F.conv2d(xt, image(w), **geometry) * image(g)).sum().backward()
    return xt.grad.numpy()[0, 0]


# --- printing --------------------------------------------------------------------------

def rows(a):
    """A 2-D array of whole numbers as text lines, one per row: [ 1 -2  0]."""
    return ["[" + " ".join(f"{v + 0.0:2.0f}" for v in row) + "]" for row in np.asarray(a)]


def side_by_side(*panels, gap=4):
    """Panels (title, 2-D array) printed next to each other, titles above, tops aligned."""
    columns = [[title] + rows(a) for title, a in panels]
    widths = [max(len(line) for line in col) for col in columns]
    height = max(len(col) for col in columns)
    lines = []
    for i in range(height):
        cells = [(col[i] if i < len(col) else "").ljust(w) for col, w in zip(columns, widths)]
        lines.append("  " + (" " * gap).join(cells).rstrip())
    return "\n".join(lines)


class Claims:
    """Each claim printed with its verdict (yes / NO); the failures make the exit status 1."""

    def __init__(self, say):
        self.say, self.count, self.failures = say, 0, []

    def __call__(self, text, holds):
        self.count += 1
        if not holds:
            self.failures.append(text)
        self.say(f"  {text}: {'yes' if holds else 'NO'}")


# --- the lesson ------------------------------------------------------------------------

def stride_one(x, w, g, claim, say):
    """y = conv2d(x, w) = C x; conv_transpose2d(g, w) = C^T g = x.grad; returns C."""
    say("\n=== 1. A convolution is a matrix ===")
    y = conv(x, w)
    say(side_by_side(("x (4x4)", x), ("w (3x3)", w), ("y = conv2d(x, w) (2x2)", y)))
    products = " + ".join(f"{a:.0f}*{b:.0f}" if b >= 0 else f"{a:.0f}*({b:.0f})"
                          for a, b in zip(x[:3, :3].flat, w.flat))
    say(f"y[0, 0] = sum of x[0:3, 0:3] * w = {products} = {(x[:3, :3] * w).sum():.0f}")
    claim("y[0, 0] by hand == conv2d's y[0, 0]", (x[:3, :3] * w).sum() == y[0, 0])

    C = matrix_of(lambda unit: conv(unit, w), x.shape)
    say(f"\nC, the matrix of conv2d(., w) ({C.shape[0]}x{C.shape[1]}): column k = conv2d of the "
        f"image that is 1 at pixel k, flattened")
    say(side_by_side(("C", C)))
    say("each row of C is w laid out on the flattened 4x4 image, shifted to one output position")
    claim("C @ x.flatten() == conv2d(x, w).flatten()", np.array_equal(C @ x.reshape(-1),
                                                                      y.reshape(-1)))

    say("\n=== 2. Its transpose is conv_transpose2d, and it is the backward ===")
    say(side_by_side(("g (2x2), a gradient dL/dy", g),))
    ct_g = (C.T @ g.reshape(-1)).reshape(x.shape)
    t = conv_t(g, w)
    gx = input_grad(x, w, g)
    say(side_by_side(("C^T g", ct_g), ("conv_transpose2d(g, w)", t),
                     ("x.grad, L = sum(y * g)", gx)))
    claim("conv_transpose2d(g, w) == C^T g", np.array_equal(t, ct_g))
    claim("x.grad == C^T g (Conv2d.backward calls ConvTranspose2d)", np.array_equal(gx, ct_g))
    T = matrix_of(lambda unit: conv_t(unit, w), g.shape)
    claim(f"the matrix of conv_transpose2d(., w) ({T.shape[0]}x{T.shape[1]}) == C^T",
          np.array_equal(T, C.T))

    u = image(g, requires_grad=True)
    (F.conv_transpose2d(u, image(w)) * image(x)).sum().backward()
    say("and the other way: L = sum(conv_transpose2d(u, w) * x) for u of g's shape gives")
    say(side_by_side(("u.grad", u.grad.numpy()[0, 0]), ("C x = conv2d(x, w) = y", y)))
    claim("u.grad == conv2d(x, w) (ConvTranspose2d.backward calls Conv2d)",
          np.array_equal(u.grad.numpy()[0, 0], y))
    return C


def stride_two(x, w, g, claim, say):
    """Stride 2, padding 1: conv2d downsamples 4x4 -> 2x2, its transpose upsamples 2x2 -> 4x4."""
    say("\n=== 3. Stride 2, padding 1: down with conv2d, up with conv_transpose2d ===")
    geometry = dict(stride=2, padding=1)
    y = conv(x, w, **geometry)
    C = matrix_of(lambda unit: conv(unit, w, **geometry), x.shape)
    say(side_by_side(("y = conv2d(x, w, stride=2, padding=1) (2x2)", y)))
    say(f"C ({C.shape[0]}x{C.shape[1]}), built the same way:")
    say(side_by_side(("C", C)))
    claim("C @ x.flatten() == conv2d(x, w, stride=2, padding=1).flatten()",
          np.array_equal(C @ x.reshape(-1), y.reshape(-1)))
    up = conv_t(g, w, output_padding=1, **geometry)
    ct_g = (C.T @ g.reshape(-1)).reshape(x.shape)
    say(side_by_side(("g (2x2)", g),
                     ("conv_transpose2d(g, w, stride=2, padding=1, output_padding=1) (4x4)", up)))
    claim("conv_transpose2d(g, w, stride=2, padding=1, output_padding=1) == C^T g",
          np.array_equal(up, ct_g))
    claim("x.grad of sum(conv2d(x, w, stride=2, padding=1) * g) == C^T g",
          np.array_equal(input_grad(x, w, g, **geometry), ct_g))

    say("\nEach pixel g[a, b] paints g[a, b] * w with its centre on output pixel (2a, 2b) "
        "(top-left corner at (2a - 1, 2b - 1)), cut to the 4x4 output; the paintings add up:")
    stamps, hand = [], []
    for a in range(g.shape[0]):
        for b in range(g.shape[1]):
            one = np.zeros_like(g)
            one[a, b] = g[a, b]
            stamps.append((f"from g[{a}, {b}] = {g[a, b]:.0f}", conv_t(one, w, output_padding=1,
                                                                       **geometry)))
            canvas = np.zeros((x.shape[0] + 2, x.shape[1] + 2))  # the 1-pixel padding around
            canvas[2 * a:2 * a + 3, 2 * b:2 * b + 3] = g[a, b] * w
            hand.append(canvas[1:-1, 1:-1])
    say(side_by_side(*stamps, gap=3))
    claim("each painting == g[a, b] * w placed by hand",
          all(np.array_equal(s, h) for (_, s), h in zip(stamps, hand)))
    claim("the four paintings sum to conv_transpose2d(g, w, ...)",
          np.array_equal(sum(s for _, s in stamps), up))

    say("\nThe same numbers as a stride-1 conv2d (a 'fractionally strided' one, stride 1/2): "
        "zeros between g's pixels, k - 1 - p = 1 zero around (one more on the bottom and right "
        "for output_padding), and the kernel flipped")
    stuffed = np.zeros((2 * g.shape[0] - 1, 2 * g.shape[1] - 1))
    stuffed[::2, ::2] = g
    stuffed = np.pad(stuffed, ((1, 2), (1, 2)))
    flipped = w[::-1, ::-1]
    fractional = conv(stuffed, flipped)
    say(side_by_side(("g, zeros between, padded (6x6)", stuffed), ("w flipped", flipped),
                     ("conv2d of them, stride 1 (4x4)", fractional)))
    claim("this stride-1 conv2d == conv_transpose2d(g, w, stride=2, padding=1, output_padding=1)",
          np.array_equal(fractional, up))

    say("\nHow many paintings cover each output pixel: conv_transpose2d of a 3x3 input of ones "
        "with a kernel of ones, stride 2, padding 1 (output_padding 1 for kernel 3, to reach 6x6)")
    ones3 = np.ones((3, 3))
    k3 = conv_t(ones3, np.ones((3, 3)), output_padding=1, **geometry)
    k4 = conv_t(ones3, np.ones((4, 4)), **geometry)
    say(side_by_side(("kernel 3x3 (6x6)", k3), ("kernel 4x4, DCGAN's (6x6)", k4)))
    claim("kernel 3, stride 2: rows and columns covered 1 2 1 2 1 1 times (uneven)",
          np.array_equal(k3, np.outer([1, 2, 1, 2, 1, 1], [1, 2, 1, 2, 1, 1])))
    claim("kernel 4, stride 2: covered 1 2 2 2 2 1 times (even inside)",
          np.array_equal(k4, np.outer([1, 2, 2, 2, 2, 1], [1, 2, 2, 2, 2, 1])))


def sizes(w, g, claim, say):
    """The output-size formula, the ambiguity output_padding resolves, DCGAN's shapes."""
    say("\n=== 4. Output sizes, and what output_padding is for ===")
    s, p, d, k = 2, 1, 1, w.shape[0]
    for h in (3, 4):
        oh = conv(np.zeros((h, h)), w, stride=s, padding=p).shape[0]
        formula = (h + 2 * p - d * (k - 1) - 1) // s + 1
        say(f"conv2d, H = {h}: OH = (H + 2p - d(k - 1) - 1) // s + 1 = "
            f"({h} + {2 * p} - {d * (k - 1)} - 1) // {s} + 1 = {formula}"
            f"; the engine's output is {oh}x{oh}")
        claim(f"conv2d maps {h}x{h} to 2x2", oh == formula == 2)
    h = g.shape[0]
    for op in (0, 1):
        out = conv_t(g, w, stride=s, padding=p, output_padding=op).shape[0]
        formula = (h - 1) * s - 2 * p + d * (k - 1) + op + 1
        say(f"conv_transpose2d, H = {h}, output_padding = {op}: (H - 1)s - 2p + d(k - 1) + "
            f"output_padding + 1 = {h - 1}*{s} - {2 * p} + {d * (k - 1)} + {op} + 1 = {formula}; "
            f"the engine's output is {out}x{out}")
        claim(f"output_padding={op} gives {formula}x{formula}", out == formula == 3 + op)
    try:
        conv_t(g, w, stride=s, padding=p, output_padding=2)
        message = None
    except ValueError as exc:
        message = str(exc)
    say(f"output_padding=2: {message}")
    claim("output_padding=2 (not smaller than the stride) is refused", message is not None)

    say("\nDCGAN's layers (kernel 4, stride 2, padding 1) on one channel:")
    up = nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1, dtype="float64")
    down = nn.Conv2d(1, 1, 4, stride=2, padding=1, dtype="float64")
    z = npgan.zeros(1, 1, 7, 7, dtype="float64")
    g_shapes = [z.shape[2:]]
    for _ in range(2):
        z = up(z)
        g_shapes.append(z.shape[2:])
    d_shapes = [z.shape[2:]]
    for _ in range(2):
        z = down(z)
        d_shapes.append(z.shape[2:])
    say(f"  G, ConvTranspose2d twice: {' -> '.join(f'{a}x{b}' for a, b in g_shapes)}")
    say(f"  D, Conv2d twice:          {' -> '.join(f'{a}x{b}' for a, b in d_shapes)}")
    claim("7 -> 14 -> 28 -> 14 -> 7",
          [a for a, _ in g_shapes + d_shapes] == [7, 14, 28, 28, 14, 7])


def run(args):
    """Draw the example's numbers, print and check every claim; the exit status."""
    say = (lambda *a: None) if args.quiet else print
    rng = np.random.default_rng(args.seed)
    x = rng.integers(0, 4, (4, 4)).astype(np.float64)   # the image: 0 .. 3
    w = rng.integers(-1, 3, (3, 3)).astype(np.float64)  # the kernel: -1 .. 2
    g = rng.integers(1, 4, (2, 2)).astype(np.float64)   # a gradient dL/dy: 1 .. 3
    claim = Claims(say)
    say(f"One channel, float64, seed {args.seed}: small whole numbers, so every sum is exact")
    stride_one(x, w, g, claim, say)
    stride_two(x, w, g, claim, say)
    sizes(w, g, claim, say)
    say("")
    for failure in claim.failures:
        print(f"FAILED {failure}")
    verdict = "all hold" if not claim.failures else f"{len(claim.failures)} FAILED"
    print(f"transposed_conv (seed {args.seed}): {claim.count} claims checked, {verdict}")
    return 1 if claim.failures else 0


def main(argv=None):
    """Run the lesson; returns 0, or 1 when a printed claim does not hold."""
    args = parse_args(argv)
    return runs.run_example("transposed_conv.py", lambda backend_name: run(args),
                            dtype="float64", needs_plots=False)


if __name__ == "__main__":
    runs.run_script(main, "transposed_conv.py")
