"""The computation graph, drawn: ops as boxes, tensors as ovals, parameters by name.

    text = npgan.viz.to_dot(loss, modules={"G": G, "D": D})     # DOT text, always
    npgan.viz.draw(loss, "step.svg", modules={"G": G, "D": D})  # needs Graphviz's `dot`

Edges follow the forward pass, input -> op -> output, so backward runs
against the arrows. The graph is found by walking ``tensor.creator.inputs``
from the tensor drawn (iteratively: a chain of 10,000 ops is fine). A graph
built by ``npgan.grad(..., create_graph=True)`` is drawn the same way: the
backward rules' own ops appear as ordinary boxes (the gradient penalty's
double backprop). ``backward()`` frees the graph it walked (``fn.inputs`` is
set to None); such an op is drawn dashed, "freed by backward", and nothing
above it can be seen: draw before backward, or pass ``retain_graph=True``.

Naming: ``modules={"G": G}`` names G's parameters "G.0.weight", "G.2.bias"
(``Module.named_parameters`` with the prefix "G."); ``params={"W": W}`` names
tensors directly; otherwise a tensor's own ``.name`` is used when set.
"""
import inspect
import os
import shutil
import subprocess

from npgan import backend
from npgan.nn import Module, Parameter

GRAPHVIZ_INSTALL_HINT = (
    "install Graphviz, which provides `dot`: `sudo apt-get install graphviz` (Debian, Ubuntu), "
    "`brew install graphviz` (macOS), or `conda install -c conda-forge graphviz`; "
    "or write the DOT text with draw(tensor, 'graph.dot') (or npgan.viz.to_dot) and render "
    "it elsewhere with `dot -Tpng graph.dot -o graph.png`")

RENDERED_FORMATS = ("png", "svg", "pdf")
DOT_FORMATS = ("dot", "gv")

# Fill colours, explained in the caption of every picture.
PARAMETER_COLOR = "#cfe2f3"  # blue: a parameter (what the optimizer updates)
INPUT_COLOR = "#d9ead3"      # green: another leaf that requires grad (e.g. x_hat in WGAN-GP)
CONSTANT_COLOR = "#eeeeee"   # grey: a leaf that needs no gradient (data, noise, numbers)
OUTPUT_COLOR = "#fce5cd"     # orange: the tensor drawn
FREED_NOTE = ("dashed: freed by backward(); draw before backward, "
              "or call backward(retain_graph=True)")


def tensor_names(modules=None, params=None):
    """A dict ``id(tensor) -> name`` from named modules and named tensors.

    ``modules`` maps a prefix to a Module (``{"G": G}`` gives "G.0.weight", ...);
    a single Module is named without a prefix ("0.weight"). ``params`` maps a
    name to a Tensor. Names from ``params`` win over names from ``modules``.
    """
    names = {}
    if isinstance(modules, Module):
        modules = {"": modules}
    for prefix, module in (modules or {}).items():
        if not isinstance(module, Module):
            raise TypeError(
                f"modules[{prefix!r}] is a {type(module).__name__}, not a Module; "
                f"pass tensors with params= instead")
        for name, p in module.named_parameters(prefix + "." if prefix else ""):
            names[id(p)] = name
    for name, t in (params or {}).items():
        names[id(t)] = name
    return names


def name_of(t, names):
    """The name of tensor ``t``: from ``names`` (see :func:`tensor_names`), else ``t.name``, else None."""
    return names.get(id(t), t.name)


def walk_graph(tensor):
    """The graph that produced ``tensor``: ``(tensors, functions, edges)``.

    ``tensors`` and ``functions`` are lists in discovery order (``tensor``
    first); ``edges`` holds ``(tensor_index, function_index, slot)`` for "the
    tensor is input ``slot`` of the function" and ``(function_index, tensor_index,
    None)`` for "the function produced the tensor". A freed function (its
    inputs dropped by backward) has no input edges.
    """
    tensors, functions, edges = [tensor], [], []
    tensor_index, function_index = {id(tensor): 0}, {}
    stack = [tensor]
    while stack:
        t = stack.pop()
        fn = t.creator
        if fn is None:
            continue
        function_index[id(fn)] = len(functions)
        functions.append(fn)
        edges.append((function_index[id(fn)], tensor_index[id(t)], None))
        for slot, x in enumerate(fn.inputs or ()):
            if id(x) not in tensor_index:
                tensor_index[id(x)] = len(tensors)
                tensors.append(x)
                stack.append(x)
            edges.append((tensor_index[id(x)], function_index[id(fn)], slot))
    return tensors, functions, edges


def _stats(label, array):
    """Lines describing an array: its values when small, else min, mean, max and norm."""
    a = backend.to_numpy(array)
    if a.size <= 4:
        return [f"{label} {' '.join(f'{float(v):.4g}' for v in a.reshape(-1))}"]
    norm = float((a * a).sum()) ** 0.5
    return [f"{label} min {float(a.min()):.3g} mean {float(a.mean()):.3g} max {float(a.max()):.3g}",
            f"{label} norm {norm:.3g}"]


def _tensor_node(t, name, is_parameter, is_output, show_values):
    """The DOT label and attributes of one tensor."""
    lines = [name] if name else []
    lines.append(f"{tuple(t.shape)} {t.dtype}")
    if t.creator is None and not t.requires_grad and t.numel() == 1:
        lines.append(f"= {float(t.numpy().reshape(-1)[0]):.4g}")  # a constant such as 1/N
    elif show_values:
        lines += _stats("value", t.data)
    if show_values and t.grad is not None:
        lines += _stats("grad", t.grad.data)
    label = "\\n".join(_escape(s) for s in lines)
    if is_output:
        fill = OUTPUT_COLOR
    elif t.creator is not None:
        fill = "white"
    elif is_parameter:
        fill = PARAMETER_COLOR
    elif t.requires_grad:
        fill = INPUT_COLOR
    else:
        fill = CONSTANT_COLOR
    return f'label="{label}", shape=ellipse, style=filled, fillcolor="{fill}"'


def argument_names(fn):
    """The names of ``fn.forward``'s arguments, the letters of its docstring (Linear: x, W, b)."""
    params = list(inspect.signature(fn.forward).parameters.values())
    return [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]


def _escape(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def to_dot(tensor, modules=None, params=None, show_values=False):
    """The graph that computed ``tensor`` as Graphviz DOT text.

    Tensors are ovals labelled with their name (see :func:`tensor_names`),
    shape and dtype; ops are boxes labelled with the Function's name; edges
    run input -> op -> output, labelled with the op's argument name when it
    has several inputs. ``show_values`` adds each tensor's values (or min,
    mean, max and norm) and, where ``.grad`` is set, its gradient.
    """
    names = tensor_names(modules, params)
    tensors, functions, edges = walk_graph(tensor)
    lines = ["digraph npgan {",
             '  graph [fontname="Helvetica", fontsize=10, labelloc=b];',
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=8];']
    for i, t in enumerate(tensors):
        is_parameter = isinstance(t, Parameter) or id(t) in names
        node = _tensor_node(t, name_of(t, names), is_parameter, i == 0, show_values)
        lines.append(f"  t{i} [{node}];")
    any_freed = False
    for j, fn in enumerate(functions):
        if fn.inputs is None:
            any_freed = True
            lines.append(f'  f{j} [label="{_escape(fn.name)}\\n(freed by backward)", '
                         f'shape=box, style=dashed];')
        else:
            lines.append(f'  f{j} [label="{_escape(fn.name)}", shape=box, style="rounded,bold"];')
    for a, b, slot in edges:
        if slot is None:
            lines.append(f"  f{a} -> t{b};")
            continue
        fn = functions[b]
        labels = argument_names(fn)
        if len(fn.inputs) > 1:
            text = labels[slot] if slot < len(labels) else str(slot)
            lines.append(f'  t{a} -> f{b} [label="{_escape(text)}"];')
        else:
            lines.append(f"  t{a} -> f{b};")
    caption = ["blue: parameter, green: input requiring grad, grey: constant, "
               "orange: the tensor drawn; arrows run forward, backward runs against them"]
    if any_freed:
        caption.append(FREED_NOTE)
    caption = "\\n".join(_escape(c) for c in caption)
    lines.append(f'  label="{caption}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw(tensor, path, modules=None, params=None, show_values=False, format=None):
    """Draw the graph that computed ``tensor`` into ``path``; returns ``path``.

    The format comes from ``format`` or the file's suffix: ".dot"/".gv" write
    the DOT text (no Graphviz needed); ".png", ".svg" and ".pdf" run Graphviz's
    ``dot`` program, raising RuntimeError with install instructions when it is
    not on PATH.
    """
    path = os.fspath(path)
    fmt = (format or os.path.splitext(path)[1].lstrip(".")).lower()
    if fmt not in DOT_FORMATS + RENDERED_FORMATS:
        raise ValueError(
            f"draw: cannot tell the format of {path!r}; use a path ending in one of "
            f"{', '.join('.' + f for f in DOT_FORMATS + RENDERED_FORMATS)} or pass format=")
    text = to_dot(tensor, modules=modules, params=params, show_values=show_values)
    if fmt in DOT_FORMATS:
        with open(path, "w") as f:
            f.write(text)
        return path
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(
            f"draw: writing {path!r} as {fmt.upper()} needs Graphviz's `dot` program, which is "
            f"not on PATH; {GRAPHVIZ_INSTALL_HINT}")
    result = subprocess.run([dot, f"-T{fmt}", "-o", path], input=text, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise RuntimeError(f"draw: `dot -T{fmt}` failed (exit {result.returncode}): "
                           f"{result.stderr.strip()}")
    return path
