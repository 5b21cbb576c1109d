"""docs/walkthrough.md stays true to the source and to examples/walkthrough.py's output.

The page follows a convention this test relies on:

* Code is cited as a parenthesised reference, a file and optionally definitions:
  (`npgan/ops.py`) or (`npgan/ops.py`, `Linear.backward`) or
  (`examples/walkthrough.py`, `forward_order`, `replay`). A definition is a dotted
  path of classes, functions or module-level assignments in that file. Every
  reference must name an existing file and existing definitions. No `file.py:123`
  line references.
* An inline snippet is an inline code span right after a reference and a colon:
  (`npgan/activations.py`, `Tanh.backward`): `return gy * (1 - y * y)`.
* A ```python block quotes the last reference in the paragraph just above it
  (every python block must have one). Lines that are only ``...`` split it into
  pieces, which must occur in that order.
* A snippet (inline, or a piece of a block) must occur verbatim in the source of
  the named definitions (concatenated in the order named; the whole file when no
  definition is named), after collapsing all runs of whitespace to one space.
* A ```text block quotes the script's output: ```text for lines printed by both
  runs' D step (either run may match), ```text minimax or ```text non-saturating
  for one run's lines. Each line must equal an output line, in order (whitespace
  collapsed); a line that is only ``...`` is skipped; in a line containing ``...``
  the pieces between must occur, in order, in one output line. The finite-difference
  errors (``fd ok 7e-12``, ``agrees to 4e-22``, ``max rel error 2.9e-09``) depend
  on the last bits of the arithmetic and are not compared.
* In the text outside code, every decimal number written with 5 or more
  significant digits must be one the script printed, up to sign (fewer digits:
  rounded or derived by hand, not checked), and the KEY_NUMBERS below, read from a
  fresh run with their signs, must appear on the page.
"""
import ast
import contextlib
import functools
import importlib.util
import io
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "walkthrough.md")
RUNS = ("non-saturating", "minimax")

PATH = r"(?:npgan|examples|tests|benchmarks)/[\w/.-]+?\.py"
REFERENCE = re.compile(r"\(`(" + PATH + r")`((?:,\s*`[\w.]+`)*)\)")
INLINE_SNIPPET = re.compile(REFERENCE.pattern + r":\s*`([^`]+)`")
FENCE = re.compile(r"^(\s*)```(.*)$")
FD_NOISE = re.compile(r"\b(fd ok|agrees to|max rel error) [-+0-9.e]+")

# (run, regex on that run's output capturing one number): each captured value must appear on the page.
KEY_NUMBERS = [
    ("non-saturating", r"\n  L_D +=\s*(\S+)"),                       # L_D, the same in both runs
    ("minimax", r"\n  L_D +=\s*(\S+)"),
    ("non-saturating", r"\n  L_G +=\s*(\S+)"),                       # L_G, each loss
    ("minimax", r"\n  L_G +=\s*(\S+)"),
    ("non-saturating", r"mean softplus\(-a\) \+ mean softplus\(b\)\n.*mean (\S+)"),
    ("non-saturating", r"dx  \[a\] += \[\[\s*(\S+)\]"),             # dL_D/da[0] = -sigmoid(-a) / N
    ("non-saturating", r"dx  \[b\] += \[\[\s*(\S+)\]"),             # dL_D/db[0] = sigmoid(b) / N
    ("non-saturating", r"D\.2\.bias \(1,\)\n +g += dL/dp += \[\s*(\S+)\]"),  # summed over both halves
    ("non-saturating", r"dL_G/db = .*?= \[\[\s*(\S+)\]"),            # the formula's prediction
    ("minimax", r"dL_G/db = .*?= \[\[\s*(\S+)\]"),
    ("non-saturating", r"db  \[G\.2\.bias\] += \[\s*(\S+)\]"),       # ratio 1.30 between the losses
    ("minimax", r"db  \[G\.2\.bias\] += \[\s*(\S+)\]"),
    ("non-saturating", r"G\.0\.weight \(3, 1\)\n(?:.*\n){6} +p - step += \[\[\s*(\S+)\]"),
    ("minimax", r"G\.0\.weight \(3, 1\)\n(?:.*\n){6} +p - step += \[\[\s*(\S+)\]"),
    ("non-saturating", r"finite differences: (\d+ gradients \(\d+ numbers\))"),
    ("minimax", r"finite differences: (\d+ gradients \(\d+ numbers\))"),
]


def _squash(text):
    """Whitespace runs collapsed to one space, U+2212 minus signs made ASCII."""
    return " ".join(text.replace("\u2212", "-").split())


# --- the page, parsed --------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


@functools.lru_cache(maxsize=None)
def parsed():
    """(fenced blocks, prose): blocks as dicts; prose = the page's lines outside fences."""
    lines = doc().splitlines()
    blocks, prose, i = [], [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        indent, info = m.group(1), m.group(2).split()
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        assert i < len(lines), f"docs/walkthrough.md:{start + 1}: unclosed code fence"
        i += 1
        above = []  # the paragraph just above the fence
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        while j >= 0 and lines[j].strip() and not FENCE.match(lines[j]):
            above.insert(0, lines[j])
            j -= 1
        blocks.append({"line": start + 1, "lang": info[0] if info else "", "args": info[1:],
                       "body": body, "above": "\n".join(above)})
        prose.append("")
    return blocks, "\n".join(prose)


# --- the source, by definition ---------------------------------------------------

@functools.lru_cache(maxsize=None)
def source(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        text = f.read()
    return text, ast.parse(text)


def definition_source(path, dotted):
    """The source text of ``Class.method`` / ``function`` / ``NAME = ...`` in ``path``."""
    text, node = source(path)
    for part in dotted.split("."):
        found = None
        for child in getattr(node, "body", []):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if child.name == part:
                    found = child
            elif isinstance(child, (ast.Assign, ast.AnnAssign)):
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                if any(isinstance(t, ast.Name) and t.id == part for t in targets):
                    found = child
        if found is None:
            raise LookupError(f"{path} has no definition {dotted!r}")
        node = found
    lines = text.splitlines()
    return "\n".join(lines[node.lineno - 1:node.end_lineno])


def region(path, names):
    if not names:
        return source(path)[0]
    return "\n".join(definition_source(path, n) for n in names)


def reference_names(group):
    return re.findall(r"`([\w.]+)`", group)


def check_snippet(path, names, pieces, where):
    """Each piece (text) occurs in the region, in order, whitespace collapsed."""
    haystack, at = _squash(region(path, names)), 0
    for piece in pieces:
        needle = _squash(piece)
        k = haystack.find(needle, at)
        if k < 0:
            shown = f"{path}" + (f", {', '.join(names)}" if names else "")
            where_found = " (it occurs earlier: out of order)" if needle in haystack else ""
            pytest.fail(f"{where}: snippet not in ({shown}){where_found}:\n    {piece.strip()}")
        at = k + len(needle)


# --- the script's output ---------------------------------------------------------

@functools.lru_cache(maxsize=None)
def output(run):
    """examples/walkthrough.py's stdout for one generator loss, run in this process."""
    spec = importlib.util.spec_from_file_location(
        "npgan_example_walkthrough_doc", os.path.join(ROOT, "examples", "walkthrough.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = module.main(["--g-loss", run])
    assert status == 0, f"examples/walkthrough.py --g-loss {run} failed its own checks"
    return buffer.getvalue()


def _comparable(line):
    return FD_NOISE.sub(r"\1 ~", _squash(line))


def match_block(body, out_lines):
    """None if the block's lines occur in order in out_lines, else the first line that does not."""
    at = 0
    for line in body:
        want = _comparable(line)
        if not want or want == "...":
            continue
        pieces = [p.strip() for p in want.split("...") if p.strip()]
        for k in range(at, len(out_lines)):
            got = out_lines[k]
            if "..." not in want:
                ok = got == want
            else:
                pos, ok = 0, True
                for p in pieces:
                    pos = got.find(p, pos)
                    if pos < 0:
                        ok = False
                        break
                    pos += len(p)
            if ok:
                at = k + 1
                break
        else:
            return line
    return None


# --- tests -------------------------------------------------------------------------

def check_no_line_number_references(text):
    """No ``file.py:123`` citations on a page: code is cited as (`file`, `Definition`)."""
    found = re.findall(r"[\w/]+\.py:\d+", text)
    assert not found, f"cite code as (`file`, `Definition`), not by line number: {found}"


def check_cited_files_and_definitions(text, minimum):
    """Every cited file exists, every cited definition is found (at least ``minimum`` refs)."""
    cited = set(re.findall(r"`((?:npgan|examples|tests|benchmarks|docs)/[\w/.-]+\.\w+)`", text))
    missing = [p for p in sorted(cited) if not os.path.exists(os.path.join(ROOT, p))]
    assert not missing, f"files cited but missing: {missing}"
    references = REFERENCE.findall(text)
    assert len(references) >= minimum, "the reference convention is not being parsed"
    for path, group in references:
        for name in reference_names(group):
            definition_source(path, name)  # raises LookupError when gone


def check_inline_snippets(prose, minimum):
    """Each inline snippet (after a reference and a colon) occurs in the cited definitions."""
    snippets = INLINE_SNIPPET.findall(prose)
    assert len(snippets) >= minimum, "the inline-snippet convention is not being parsed"
    for path, group, code in snippets:
        check_snippet(path, reference_names(group), [code], f"inline snippet `{code}`")


def check_python_blocks(blocks, page, minimum):
    """Each ```python block quotes the definitions of the reference just above it; lines that
    are only ``...`` split it into pieces, which must occur in that order."""
    blocks = [b for b in blocks if b["lang"] == "python"]
    assert len(blocks) >= minimum, "the code-block convention is not being parsed"
    for b in blocks:
        where = f"{page}:{b['line']}"
        references = REFERENCE.findall(b["above"])
        assert references, f"{where}: a python block needs a (`file`, `Definition`) reference " \
                           f"in the paragraph just above it"
        path, group = references[-1]
        pieces, current = [], []
        for line in b["body"]:
            if line.strip() == "...":
                pieces.append("\n".join(current))
                current = []
            else:
                current.append(line)
        pieces.append("\n".join(current))
        check_snippet(path, reference_names(group), [p for p in pieces if p.strip()], where)


def test_no_line_number_references():
    check_no_line_number_references(doc())


def test_every_file_and_definition_cited_exists():
    check_cited_files_and_definitions(doc(), 30)


def test_inline_snippets_are_in_the_cited_definition():
    check_inline_snippets(parsed()[1], 8)


def test_python_blocks_are_in_the_cited_definition():
    check_python_blocks(parsed()[0], "docs/walkthrough.md", 20)


def test_code_blocks_have_a_known_kind():
    for b in parsed()[0]:
        assert b["lang"] in ("python", "text", "bash"), \
            f"docs/walkthrough.md:{b['line']}: fence ```{b['lang']} is neither checked nor allowed"
        if b["lang"] == "text":
            assert set(b["args"]) <= set(RUNS) and len(b["args"]) <= 1, \
                f"docs/walkthrough.md:{b['line']}: ```text takes one of {RUNS} or nothing"


def test_printout_blocks_are_the_scripts_output():
    blocks = [b for b in parsed()[0] if b["lang"] == "text"]
    assert len(blocks) >= 8
    out = {run: [_comparable(line) for line in output(run).splitlines()] for run in RUNS}
    for b in blocks:
        runs = b["args"] or RUNS
        misses = {run: match_block(b["body"], out[run]) for run in runs}
        if all(m is not None for m in misses.values()):
            detail = "; ".join(f"{run}: {m.strip()!r}" for run, m in misses.items())
            pytest.fail(f"docs/walkthrough.md:{b['line']}: printout block does not match the "
                        f"script's output (first line not found, in order): {detail}")


NUMBER = re.compile(r"(?<![\w.])(-?)(\d+\.\d+)(?:e[-+]?\d+)?(?![\d])")


def _significant_digits(digits):
    return len(digits.replace(".", "").lstrip("0"))


def test_numbers_in_the_text_were_printed_by_the_script():
    prose = re.sub(r"`[^`]*`", " ", parsed()[1]).replace("\u2212", "-")
    # by magnitude: the text also negates printed values (softplus(-a) needs -a)
    printed = {digits for run in RUNS for _, digits in NUMBER.findall(output(run))}
    checked = 0
    for sign, digits in NUMBER.findall(prose):
        if _significant_digits(digits) < 5:
            continue
        checked += 1
        assert digits in printed, \
            f"docs/walkthrough.md quotes {sign}{digits}, which neither run printed"
    assert checked >= 30, "the number check found too few numbers to be meaningful"


@pytest.mark.parametrize("run,pattern", KEY_NUMBERS)
def test_key_numbers_of_a_fresh_run_are_on_the_page(run, pattern):
    m = re.search(pattern, output(run))
    assert m, f"the script's output ({run}) no longer has a line matching {pattern!r}"
    value = m.group(1).lstrip("+")
    page = doc().replace("\u2212", "-")
    assert re.search(r"(?<![\d.])" + re.escape(value) + r"(?!\d)", page), \
        f"examples/walkthrough.py --g-loss {run} prints {value}; docs/walkthrough.md does not quote it"
