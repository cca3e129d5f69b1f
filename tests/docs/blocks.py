"""Code blocks of the Markdown docs: where they are, their language, and any marker before them.

A block is a fenced block (```python, ```sh, ...). A deliberately not-runnable
block is preceded by `<!-- not-runnable: reason -->` (blank lines between are
allowed); a Python block preceded by `<!-- file: NAME.py -->` is a program the
reader saves under that name and runs. Indented code blocks are not allowed:
they have no language, so nothing could tell how to run them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Blocks run as Python, in one session per document.
PYTHON = frozenset({"python", "py"})
#: Blocks whose `bgjobs ...` and `python ...` lines run as commands.
SHELL = frozenset({"sh", "shell", "bash", "console"})
#: Blocks whose every non-empty line is a schedule that must parse.
SCHEDULE = frozenset({"schedule"})
#: Blocks that show text (program output, a file's contents): nothing to run.
TEXT = frozenset({"text", "output"})

_FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)\s*$")
_NOT_RUNNABLE = re.compile(r"^\s*<!--\s*not-runnable:(.*?)-->\s*$")
_FILE = re.compile(r"^\s*<!--\s*file:\s*([\w./-]+\.py)\s*-->\s*$")
_MARKER_LIKE = re.compile(r"^\s*<!--\s*not[- ]runnable\b")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s")


@dataclass(frozen=True, slots=True)
class Block:
    path: Path
    line: int  # 1-based line of the first line of code (after the fence)
    language: str
    source: str
    not_runnable: str | None  # the reason given, when marked
    file_name: str | None = None  # saved under this name and run as a program

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def read_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        indent, fence, language = match.groups()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end])
            end += 1
        blocks.append(
            Block(
                path=path,
                line=index + 2,
                language=language.lower(),
                source="\n".join(body) + "\n",
                not_runnable=_marker_before(lines, index),
                file_name=_file_before(lines, index),
            )
        )
        index = end + 1
    return blocks


def _line_before(lines: list[str], fence_index: int) -> str:
    """The last non-blank line before the fence ("" if none)."""
    index = fence_index - 1
    while index >= 0 and not lines[index].strip():
        index -= 1
    return lines[index] if index >= 0 else ""


def _file_before(lines: list[str], fence_index: int) -> str | None:
    match = _FILE.match(_line_before(lines, fence_index))
    return match.group(1) if match else None


def _marker_before(lines: list[str], fence_index: int) -> str | None:
    """The reason of a `<!-- not-runnable: reason -->` line before the fence, if any."""
    line = _line_before(lines, fence_index)
    match = _NOT_RUNNABLE.match(line)
    if match is not None:
        return match.group(1).strip()
    if _MARKER_LIKE.match(line):
        return ""  # a marker without a reason (or misspelt): reported by the test
    return None


def indented_code_lines(path: Path) -> list[int]:
    """Lines starting an indented code block: indented 4+ spaces after a blank line,
    outside fenced blocks and list items (whose continuation lines are indented too)."""
    found: list[int] = []
    in_fence: str | None = None
    in_list = False
    previous_blank = True
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = _FENCE.match(line)
        if in_fence is not None:
            if line.strip().startswith(in_fence):
                in_fence = None
            previous_blank = False
            continue
        if match is not None:
            in_fence = match.group(2)
            previous_blank = False
            continue
        if not line.strip():
            previous_blank = True
            continue
        if _LIST_ITEM.match(line):
            in_list = True
        elif not line.startswith(" "):
            in_list = False
        if previous_blank and line.startswith("    ") and not in_list:
            found.append(number)
        previous_blank = False
    return found
