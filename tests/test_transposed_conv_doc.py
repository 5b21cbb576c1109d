"""docs/transposed_convolution.md stays true to the source and to examples/transposed_conv.py.

The page follows docs/walkthrough.md's convention, and this file reuses the helpers of
tests/test_walkthrough_doc.py that implement it:

* code is cited as (`file`) or (`file`, `Definition`, ...), never by line number, and every
  cited file and definition exists;
* an inline snippet right after a reference and a colon, and every ```python block (quoting the
  last reference in the paragraph above it; ``...`` lines split it into ordered pieces), occurs
  verbatim in the cited definitions, whitespace collapsed;
* every ```text block is the script's output: its lines occur in order (``...`` skips lines).

The values on the page are whole numbers drawn with --seed 0, so the printout blocks pin them;
the one sentence that quotes printed numbers in prose is checked against a fresh run's panels.
The script itself must pass its own checks (--quiet exits 0) and must be able to fail them.
"""
import contextlib
import functools
import importlib.util
import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from test_walkthrough_doc import (FENCE, _squash, check_cited_files_and_definitions,
                                  check_inline_snippets, check_no_line_number_references,
                                  check_python_blocks, match_block)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "transposed_convolution.md")
SCRIPT = os.path.join(ROOT, "examples", "transposed_conv.py")
NAME = "docs/transposed_convolution.md"


@functools.lru_cache(maxsize=None)
def doc():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


@functools.lru_cache(maxsize=None)
def parsed():
    """(fenced blocks, prose): each block's line, language, body and the paragraph above it."""
    lines = doc().splitlines()
    blocks, prose, i = [], [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        assert i < len(lines), f"{NAME}:{start + 1}: unclosed code fence"
        i += 1
        above, j = [], start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        while j >= 0 and lines[j].strip() and not FENCE.match(lines[j]):
            above.insert(0, lines[j])
            j -= 1
        blocks.append({"line": start + 1, "lang": m.group(2).strip(), "body": body,
                       "above": "\n".join(above)})
        prose.append("")
    return blocks, "\n".join(prose)


def load_script():
    spec = importlib.util.spec_from_file_location("npgan_example_transposed_conv", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(module, argv):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = module.main(argv)
    return status, buffer.getvalue()


@functools.lru_cache(maxsize=None)
def output():
    """The script's stdout at the default seed, run in this process."""
    status, text = run_script(load_script(), [])
    assert status == 0, f"examples/transposed_conv.py failed its own checks:\n{text}"
    return text


def panel(text, title):
    """The whole-number array printed under ``title`` in the script's side-by-side panels."""
    lines = text.splitlines()
    for k, line in enumerate(lines):
        col = line.find(title)
        if col >= 0 and line[col:].startswith(title):
            rows = []
            for row in lines[k + 1:]:
                m = re.match(r"\[([-\d ]+)\]", row[col:])
                if not m:
                    break
                rows.append([int(v) for v in m.group(1).split()])
            return np.array(rows)
    raise LookupError(f"the output has no panel titled {title!r}")


# --- the page against the source -----------------------------------------------------

def test_no_line_number_references():
    check_no_line_number_references(doc())


def test_every_file_and_definition_cited_exists():
    check_cited_files_and_definitions(doc(), 10)


def test_inline_snippets_are_in_the_cited_definition():
    check_inline_snippets(parsed()[1], 3)


def test_python_blocks_are_in_the_cited_definition():
    check_python_blocks(parsed()[0], NAME, 7)


def test_code_blocks_have_a_known_kind():
    for b in parsed()[0]:
        assert b["lang"] in ("python", "text", "bash"), \
            f"{NAME}:{b['line']}: fence ```{b['lang']} is neither checked nor allowed"


# --- the page against a fresh run ------------------------------------------------------

def test_printout_blocks_are_the_scripts_output():
    blocks = [b for b in parsed()[0] if b["lang"] == "text"]
    assert len(blocks) >= 9, "the printout convention is not being parsed"
    out = [_squash(line) for line in output().splitlines()]
    for b in blocks:
        miss = match_block(b["body"], out)
        assert miss is None, (f"{NAME}:{b['line']}: printout block does not match the script's "
                              f"output (first line not found, in order): {miss.strip()!r}")


def test_the_overlap_sentence_quotes_a_fresh_run():
    out = output()
    first, second = panel(out, "from g[0, 0]"), panel(out, "from g[0, 1]")
    up = panel(out, "conv_transpose2d(g, w, stride=2, padding=1, output_padding=1) (4x4)")
    assert up.shape == first.shape == second.shape == (4, 4)
    a, b, total = first[0, 1], second[0, 1], up[0, 1]
    # pixel (0, 1) lies under the paintings of g[0, 0] and g[0, 1] only
    assert a + b == total and a != 0 and b != 0, "seed 0 no longer shows an overlap at (0, 1)"
    sentence = f"output pixel (0, 1) is {a} from g[0, 0] plus {b} from g[0, 1], which is {total}"
    assert sentence in " ".join(doc().split()), f"{NAME} should say: {sentence}"


# --- the script's own checks ------------------------------------------------------------

def test_quiet_run_exits_zero():
    done = subprocess.run([sys.executable, SCRIPT, "--quiet"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.fullmatch(r"transposed_conv \(seed 0\): \d+ claims checked, all hold\n",
                        done.stdout), done.stdout


@pytest.mark.parametrize("seed", [1, 7])
def test_the_claims_hold_for_other_seeds(seed):
    status, text = run_script(load_script(), ["--quiet", "--seed", str(seed)])
    assert status == 0, text


def test_a_wrong_transposed_convolution_fails_the_checks():
    module = load_script()
    right = module.conv_t
    module.conv_t = lambda g, w, **geometry: right(g, w[::-1, ::-1], **geometry)  # kernel flipped
    status, text = run_script(module, ["--quiet"])
    assert status == 1
    assert "FAILED conv_transpose2d(g, w) == C^T g" in text
    assert re.search(r"\d+ FAILED$", text.strip()), text


@pytest.mark.parametrize("flags", [["--seed", "-1"], ["--seed", "x"], ["--loud"]])
def test_a_command_line_mistake_is_one_line_and_exit_2(flags, capsys):
    with pytest.raises(SystemExit) as exc:
        load_script().parse_args(flags)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": error: " in err and "(see --help)" in err, err
