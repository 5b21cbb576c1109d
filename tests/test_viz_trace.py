"""npgan.viz (the graph drawn), npgan.trace (the backward pass traced), and the two examples
built on them: examples/walkthrough.py and examples/saturation.py."""
import importlib.util
import os
import re
import shutil

import numpy as np
import pytest

import npgan
import npgan.functional as F
from npgan import activations, backward, losses, nn, viz
from npgan.tools.tracing import trace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_example(name):
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    path = os.path.join(ROOT, "examples", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"npgan_example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_dot(text):
    """({node id: first line of its label}, {node id: full label}, set of (from, to) edges)."""
    full = dict(re.findall(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"', text, re.M))
    first = {node: label.split("\\n")[0] for node, label in full.items()}
    edges = set(re.findall(r"^\s*(\w+) -> (\w+)", text, re.M))
    return first, full, edges


def nodes_labelled(first, label):
    return [node for node, text in first.items() if text == label]


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def linear_setup():
    """x (5, 3) constant, W (2, 3) and b (2,) requiring grad, c (5, 2) constant weights; float64."""
    rng = np.random.default_rng(7)
    x, W, b, c = (rng.standard_normal(s) for s in [(5, 3), (2, 3), (2,), (5, 2)])
    return (npgan.tensor(x), npgan.tensor(W, requires_grad=True),
            npgan.tensor(b, requires_grad=True), npgan.tensor(c), (x, W, b, c))


def small_mlp(n_in=1):
    return nn.Sequential(nn.Linear(n_in, 3, dtype="float64"), nn.Tanh(),
                         nn.Linear(3, 1, dtype="float64"))


# --- trace ---------------------------------------------------------------------

def test_trace_records_the_linear_rule_and_matches_plain_backward():
    x, W, b, c, (xn, Wn, bn, cn) = linear_setup()
    loss = (F.sigmoid(F.linear(x, W, b)) * c).sum()
    with trace(params={"W": W, "b": b}, keep_arrays=True) as t:
        loss.backward()

    # dL/dy for y = x W^T + b, computed with numpy alone
    s = sigmoid(xn @ Wn.T + bn)
    gy = cn * s * (1 - s)
    gW, gb = gy.T @ xn, gy.sum(axis=0)

    [rec] = [r for r in t.records if r.op == "Linear"]
    assert rec.input_names == [None, "W", "b"]
    assert rec.input_shapes == [(5, 3), (2, 3), (2,)]
    assert rec.output_shape == (5, 2)
    assert rec.grad_ins[0] is None and rec.grad_in_norms[0] is None  # x needs no gradient
    np.testing.assert_allclose(rec.grad_ins[1], W.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(rec.grad_ins[1], gW, rtol=1e-12)
    np.testing.assert_allclose(rec.grad_ins[2], gb, rtol=1e-12)
    np.testing.assert_allclose(rec.grad_out, gy, rtol=1e-12)
    assert rec.grad_out_norm == pytest.approx(np.linalg.norm(gy), rel=1e-12)
    assert rec.grad_in_norms[1] == pytest.approx(np.linalg.norm(gW), rel=1e-12)
    assert rec.grad_in_norms[2] == pytest.approx(np.linalg.norm(gb), rel=1e-12)
    assert "dW = gy^T x" in rec.formula  # the Function's docstring, on one line
    assert t.param_grad_norms() == pytest.approx(
        {"W": np.linalg.norm(gW), "b": np.linalg.norm(gb)}, rel=1e-12)


def test_trace_order_table_and_dicts():
    x, W, b, c, _ = linear_setup()
    loss = (F.sigmoid(F.linear(x, W, b)) * c).sum()
    with trace(params={"W": W}) as t:
        loss.backward()
    # loss = Sum(Mul(Sigmoid(Linear(x, W, b)), c)): backward runs from the loss inwards
    assert [r.op for r in t.records] == ["Sum", "Mul", "Sigmoid", "Linear"]
    assert [r.step for r in t.records] == [0, 1, 2, 3]
    assert all(r.grad_out is None and r.grad_ins is None and r.function is None
               for r in t.records)  # keep_arrays=False keeps only norms
    lines = str(t).splitlines()
    assert len(lines) == 2 + len(t.records)
    assert lines[2].split()[:2] == ["0", "Sum"] and lines[-1].split()[:2] == ["3", "Linear"]
    assert "W (2, 3)" in lines[-1]
    dicts = t.as_dicts()
    assert [d["op"] for d in dicts] == ["Sum", "Mul", "Sigmoid", "Linear"]
    assert "function" not in dicts[0] and dicts[3]["input_names"] == [None, "W", None]


def test_trace_sums_the_uses_of_a_parameter_like_grad_does():
    npgan.set_default_dtype("float64")
    D = small_mlp()
    real = npgan.random.normal(4.0, 1.25, (6, 1))
    fake = npgan.random.rand(6, 1)
    loss = losses.discriminator_loss(D(real), D(fake))  # each weight used twice
    with trace(modules={"D": D}) as t:
        loss.backward()
    assert sum(r.input_names.count("D.2.weight") for r in t.records) == 2
    expected = {f"D.{n}": np.linalg.norm(p.grad.numpy()) for n, p in D.named_parameters()}
    norms = t.param_grad_norms()
    assert list(norms) == ["D.0.weight", "D.0.bias", "D.2.weight", "D.2.bias"]
    assert norms == pytest.approx(expected, rel=1e-12)
    layers = t.layer_grad_norms()
    assert layers["D.0"] == pytest.approx(
        np.hypot(expected["D.0.weight"], expected["D.0.bias"]), rel=1e-12)


def test_trace_under_create_graph_records_the_same_numbers():
    npgan.set_default_dtype("float64")
    D = small_mlp(2)
    x = npgan.random.rand(4, 2).requires_grad_()
    with trace(modules={"D": D}, keep_arrays=True) as plain:
        g_plain, = npgan.grad(D(x).sum(), [x])
    with trace(modules={"D": D}, keep_arrays=True) as graph:
        g_graph, = npgan.grad(D(x).sum(), [x], create_graph=True)  # gy, gxs are Tensors here
    assert isinstance(g_graph, npgan.Tensor) and g_graph.creator is not None
    assert [r.op for r in graph.records] == [r.op for r in plain.records]
    for a, b in zip(plain.records, graph.records):
        assert a.grad_out_norm == pytest.approx(b.grad_out_norm, rel=1e-13)
        for na, nb in zip(a.grad_in_norms, b.grad_in_norms):
            assert (na is None) == (nb is None)
            assert na is None or na == pytest.approx(nb, rel=1e-13)
        np.testing.assert_allclose(a.grad_out, b.grad_out, rtol=1e-13)
    np.testing.assert_allclose(graph.records[-1].grad_ins[0], g_plain.numpy(), rtol=1e-13)

    # the penalty's own backward, traced: D.2.weight is reached only through Linear's backward
    penalty = (((g_graph * g_graph).sum(axis=1) - 1.0) ** 2).mean()
    with trace(modules={"D": D}) as second:
        penalty.backward()
    norms = second.param_grad_norms()
    assert norms["D.2.weight"] == pytest.approx(np.linalg.norm(D[2].weight.grad.numpy()), rel=1e-12)
    assert "MatMul" in [r.op for r in second.records]


def test_trace_hook_is_restored_and_traces_nest():
    x, W, b, c, _ = linear_setup()

    def loss():
        return (F.sigmoid(F.linear(x, W, b)) * c).sum()

    assert backward._trace_hook[0] is None
    with trace() as outer:
        with trace() as inner:
            assert backward._trace_hook[0] == inner._record
            loss().backward()
        assert backward._trace_hook[0] == outer._record
        loss().backward()
    assert backward._trace_hook[0] is None
    assert len(inner) == 4 and len(outer) == 8  # the outer trace also saw the inner rules
    loss().backward()
    assert len(outer) == 8  # inactive after exit

    with pytest.raises(ZeroDivisionError):
        with trace():
            1 / 0
    assert backward._trace_hook[0] is None


# --- viz ---------------------------------------------------------------------

def test_to_dot_nodes_and_edges_point_forward():
    x = npgan.tensor([[1.0, 2.0, 3.0]])
    W = npgan.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], requires_grad=True)
    W.name = "W"
    b = npgan.tensor([0.1, -0.1], requires_grad=True)
    y = F.sigmoid(x @ W.T + b)
    first, full, edges = parse_dot(viz.to_dot(y, params={"b": b}))

    [w] = nodes_labelled(first, "W")
    [bias] = nodes_labelled(first, "b")
    ops = {name: nodes_labelled(first, name) for name in ("Transpose", "MatMul", "Add", "Sigmoid")}
    assert all(len(v) == 1 for v in ops.values()), ops
    transpose, matmul, add, sig = (ops[k][0] for k in ("Transpose", "MatMul", "Add", "Sigmoid"))
    assert sum(1 for n in first if n.startswith("f")) == 4  # no other op boxes

    def output_of(op):
        [out] = [dst for src, dst in edges if src == op]
        return out

    # W -> Transpose -> W^T -> MatMul -> xW^T -> Add -> -> Sigmoid -> y, and b -> Add
    assert (w, transpose) in edges and (transpose, w) not in edges
    assert (output_of(transpose), matmul) in edges
    assert (output_of(matmul), add) in edges and (bias, add) in edges
    assert (output_of(add), sig) in edges
    assert output_of(sig) == "t0"  # the tensor drawn
    assert "(2, 3) float32" in full[w] and "(1, 2) float32" in full["t0"]


def test_to_dot_names_parameters_from_modules():
    G = small_mlp()
    z = npgan.random.rand(4, 1, dtype="float64")
    out = G(z).sum()
    first, _, edges = parse_dot(viz.to_dot(out, modules={"G": G}, params={"z": z}))
    linears = nodes_labelled(first, "Linear")
    assert len(linears) == 2
    for name in ("G.0.weight", "G.0.bias", "G.2.weight", "G.2.bias", "z"):
        [node] = nodes_labelled(first, name)
        assert any((node, op) in edges for op in linears), name
    first_plain, _, _ = parse_dot(viz.to_dot(out, modules=G))  # one module: no prefix
    assert nodes_labelled(first_plain, "0.weight") and not nodes_labelled(first_plain, "G.0.weight")


def test_to_dot_draws_the_gradient_penalty_graph():
    npgan.set_default_dtype("float64")
    D = small_mlp(2)
    x_hat = npgan.random.rand(4, 2).requires_grad_()
    x_hat.name = "x_hat"
    g, = npgan.grad(D(x_hat).sum(), [x_hat], create_graph=True)
    penalty = (((g * g).sum(axis=1) - 1.0) ** 2).mean()
    first, _, edges = parse_dot(viz.to_dot(penalty, modules={"D": D}, show_values=True))
    # D.2.weight reaches the penalty only through Linear's backward rule, gx = gy W (a MatMul)
    [w2] = nodes_labelled(first, "D.2.weight")
    matmuls = nodes_labelled(first, "MatMul")
    assert any((w2, m) in edges for m in matmuls)
    assert nodes_labelled(first, "x_hat") and nodes_labelled(first, "Tanh")
    assert len(nodes_labelled(first, "Linear")) == 1  # the forward's first layer, drawn once


def test_to_dot_marks_a_graph_freed_by_backward():
    x, W, b, c, _ = linear_setup()
    kept = (F.sigmoid(F.linear(x, W, b)) * c).sum()
    kept.backward(retain_graph=True)
    assert "freed" not in viz.to_dot(kept)
    freed = (F.sigmoid(F.linear(x, W, b)) * c).sum()
    freed.backward()
    text = viz.to_dot(freed)
    assert "Sum\\n(freed by backward)" in text and "retain_graph=True" in text
    assert "Linear" not in text  # nothing above a freed op can be seen


def test_draw_without_graphviz_gives_the_install_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    G = small_mlp()
    out = G(npgan.random.rand(4, 1, dtype="float64")).sum()
    with pytest.raises(RuntimeError, match=r"apt-get install graphviz.*brew install graphviz"):
        viz.draw(out, tmp_path / "graph.png", modules={"G": G})
    assert not (tmp_path / "graph.png").exists()
    path = viz.draw(out, tmp_path / "graph.dot", modules={"G": G})  # DOT needs no Graphviz
    with open(path) as f:
        assert f.read() == viz.to_dot(out, modules={"G": G})
    with pytest.raises(ValueError, match=r"\.png"):
        viz.draw(out, tmp_path / "graph.jpeg")


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
def test_draw_renders_png_and_svg_with_graphviz(tmp_path):
    G = small_mlp()
    out = G(npgan.random.rand(4, 1, dtype="float64")).sum()
    png = viz.draw(out, tmp_path / "graph.png", modules={"G": G})
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    svg = viz.draw(out, tmp_path / "graph.svg", modules={"G": G})
    with open(svg) as f:
        text = f.read()
    assert "<svg" in text and "G.2.weight" in text


# --- the examples ---------------------------------------------------------------

@pytest.mark.parametrize("g_loss", ["minimax", "non-saturating"])
def test_walkthrough_quiet_passes_its_finite_difference_checks(g_loss, capsys, tmp_path):
    walkthrough = load_example("walkthrough")
    assert walkthrough.main(["--quiet", "--g-loss", g_loss, "--draw", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip()
    assert len(out.splitlines()) == 1 and out.endswith("all agree"), out
    assert g_loss in out
    worst = float(re.search(r"max rel error ([0-9.e+-]+)", out).group(1))
    assert worst < 1e-6
    assert backward._trace_hook[0] is None
    drawn = sorted(os.listdir(tmp_path))  # .svg with Graphviz, .dot without
    assert [os.path.splitext(f)[0] for f in drawn] == ["d_step", f"g_step_{g_loss}"]
    with open(tmp_path / drawn[0]) as f:
        assert "D.2.weight" in f.read()


def test_walkthrough_catches_a_wrong_backward_rule(monkeypatch, capsys):
    walkthrough = load_example("walkthrough")
    monkeypatch.setattr(activations.Tanh, "backward", lambda self, gy, x, y: gy * (1 - y))
    assert walkthrough.main(["--quiet"]) == 1
    assert "DISAGREE" in capsys.readouterr().out


def test_walkthrough_prints_the_generator_gradient_the_formula_predicts(capsys):
    walkthrough = load_example("walkthrough")
    assert walkthrough.main(["--g-loss", "minimax"]) == 0
    out = capsys.readouterr().out
    g_part = out[out.index("=== Generator step"):]
    d_fake = [float(v) for v in re.search(r"D\(G\(z\)\) = sigmoid\(b\)\s+= \[(.*)\]",
                                          g_part).group(1).replace("[", " ").replace("]", " ").split()]
    # the rule for the Linear that made b receives gy = dL_G/db = -D(G(z)) / N (minimax)
    gy = re.search(r"\n    gy  \[b\]\s+= \[(.*?)\]   fd ok", g_part).group(1)
    gy = [float(v) for v in gy.replace("[", " ").replace("]", " ").split()]
    np.testing.assert_allclose(gy, -np.array(d_fake) / 4, rtol=1e-5)


def test_saturation_gradients_and_tiny_run(tmp_path):
    saturation = load_example("saturation")
    d = np.array([1e-4, 0.01, 0.5, 0.99])
    engine = saturation.logit_gradients(d)
    np.testing.assert_allclose(engine["minimax"], -d, rtol=1e-12)
    np.testing.assert_allclose(engine["non-saturating"], d - 1, rtol=1e-12)

    out = tmp_path / "sub" / "saturation.png"
    assert saturation.main(["--steps", "6", "--d-pretrain", "20", "--out", str(out), "--quiet"]) == 0
    with open(out, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"

    npgan.set_default_dtype("float64")
    args = saturation.parse_args(["--steps", "2", "--d-pretrain", "300"])
    start, records = saturation.run(args, lambda *a: None)
    assert start["d_fake"] < 0.05  # D rejects G's samples confidently
    assert start["minimax"] < 0.1 * start["non-saturating"]
    assert [r["step"] for r in records["minimax"]] == [0, 1, 2]
