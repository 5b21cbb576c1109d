"""The README's tour is code a user will paste: it must run as written."""
import pathlib
import re

import npgan

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_tour_runs():
    text = README.read_text(encoding="utf-8")
    tour = text.split("## A short tour", 1)[1]
    code = re.search(r"```python\n(.*?)```", tour, re.S).group(1)
    namespace = {}
    exec(compile(code, "README.md (A short tour)", "exec"), namespace)
    # what the tour's comments promise
    x, D = namespace["x"], namespace["D"]
    s = 1 / (1 + npgan.ops.exp(-x.detach()).numpy())
    assert abs(x.grad.numpy() - s * (1 - s)).max() < 1e-6
    assert all(p.grad is not None for p in D.parameters())
