"""A small Markdown subset parsed into plain data, so the templates (which escape) do all the rendering.

``summary.md`` files come from disk and may have been edited or crafted, so
they are never pasted into the page as HTML.  :func:`parse` turns the subset
the experiments write into blocks of inline tokens; the Jinja templates render
those with autoescaping, and nothing in this module builds markup.  Anything
outside the subset shows as its literal text.

Blocks: ``# headings``, paragraphs, ``-``/``*``/``1.`` list items (one level),
GitHub tables with ``:---:`` alignment, fenced code, ``---`` rules.
Inline: ```code```, ``**strong**``, ``*em*``, ``[text](http...)`` links
(http, https and mailto only; other targets stay text), ``![alt](file)``
images (resolved by the caller) and backslash escapes.  A list item or
paragraph that starts with ``VERDICT (status):`` is a verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# -- inline -----------------------------------------------------------------------------------------
_INLINE = re.compile(
    r"(?P<ticks>`+)(?P<code>.+?)(?P=ticks)"
    r"|!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)(?:\s+\"[^\"]*\")?\)"
    r"|\[(?P<ltext>[^\]]+)\]\((?P<href>[^)\s]+)\)"
    r"|\*\*(?P<strong>.+?)\*\*"
    r"|(?<![\w*])\*(?P<em>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])"
    r"|\\(?P<esc>[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])"
)
_SAFE_HREF = re.compile(r"^(?:https?://|mailto:)[^\s]+$", re.IGNORECASE)
VERDICT = re.compile(r"^VERDICT \((supported|not supported|inconclusive)\):")


@dataclass
class Token:
    """One inline piece: ``kind`` is text, code, strong, em, link or image."""

    kind: str
    text: str
    target: str = ""  # link href or image src (as written)
    image: Any = None  # for images: what the caller resolved ``target`` to (or None: not shown)
    problem: str = ""  # for images: why it is not shown


def inline(text: str) -> list[Token]:
    out: list[Token] = []

    def add_text(s: str) -> None:
        if not s:
            return
        if out and out[-1].kind == "text":
            out[-1].text += s
        else:
            out.append(Token("text", s))

    pos = 0
    for m in _INLINE.finditer(text):
        add_text(text[pos:m.start()])
        pos = m.end()
        if m.group("code") is not None:
            code = m.group("code")
            if code.startswith(" ") and code.endswith(" ") and code.strip():
                code = code[1:-1]
            out.append(Token("code", code))
        elif m.group("src") is not None:
            out.append(Token("image", m.group("alt"), m.group("src")))
        elif m.group("href") is not None:
            href = m.group("href")
            if _SAFE_HREF.match(href):
                out.append(Token("link", m.group("ltext"), href))
            else:
                add_text(f"{m.group('ltext')} ({href})")
        elif m.group("strong") is not None:
            out.append(Token("strong", m.group("strong")))
        elif m.group("em") is not None:
            out.append(Token("em", m.group("em")))
        else:
            add_text(m.group("esc"))
    add_text(text[pos:])
    return out


# -- blocks -------------------------------------------------------------------------------------------
@dataclass
class Block:
    """``kind``: heading (level), paragraph, list (ordered, items), table (header, align, rows), code, rule.

    ``verdict`` is the status of a verdict paragraph; list items carry theirs in
    ``item_verdicts``.
    """

    kind: str
    inlines: list[Token] = field(default_factory=list)
    level: int = 0
    ordered: bool = False
    items: list[list[Token]] = field(default_factory=list)
    item_verdicts: list[str] = field(default_factory=list)
    header: list[list[Token]] = field(default_factory=list)
    align: list[str] = field(default_factory=list)
    rows: list[list[list[Token]]] = field(default_factory=list)
    text: str = ""
    verdict: str = ""

    @property
    def list_items(self) -> list[tuple[list[Token], str]]:
        return list(zip(self.items, self.item_verdicts, strict=True))


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^\s{0,3}(?:[-*+]|(\d{1,9})[.)])\s+(.*)$")
_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_RULE = re.compile(r"^\s{0,3}(?:-\s*){3,}$|^\s{0,3}(?:\*\s*){3,}$|^\s{0,3}(?:_\s*){3,}$")


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [c.strip() for c in re.split(r"(?<!\\)\|", line)]


def _align(cell: str) -> str:
    cell = cell.strip()
    if cell.startswith(":") and cell.endswith(":"):
        return "center"
    return "right" if cell.endswith(":") else "left"


def _verdict(text: str) -> str:
    m = VERDICT.match(text)
    return m.group(1) if m else ""


def _kind(lines: list[str], i: int, in_paragraph: bool) -> str:
    """What line ``i`` starts, the first of these that fits."""
    line = lines[i]
    if not line.strip():
        return "blank"
    if _FENCE.match(line):
        return "code"
    if _HEADING.match(line):
        return "heading"
    if "|" in line and i + 1 < len(lines) and _SEP.match(lines[i + 1]) and "-" in lines[i + 1]:
        return "table"
    if _RULE.match(line) and not in_paragraph:
        return "rule"
    if _BULLET.match(line):
        return "list"
    return "text"


def _code(lines: list[str], i: int, shift: int) -> tuple[Block, int]:
    """The code block whose opening fence is line ``i``, and the line after its closing fence."""
    mark = _FENCE.match(lines[i]).group(1)  # type: ignore[union-attr]
    body = []
    i += 1
    while i < len(lines) and not lines[i].strip().startswith(mark):
        body.append(lines[i])
        i += 1
    return Block("code", text="\n".join(body)), i + 1


def _heading(lines: list[str], i: int, shift: int) -> tuple[Block, int]:
    m = _HEADING.match(lines[i])
    assert m is not None  # _kind said so
    return Block("heading", inline(m.group(2)), level=min(6, len(m.group(1)) + shift)), i + 1


def _table(lines: list[str], i: int, shift: int) -> tuple[Block, int]:
    """The table whose header is line ``i`` (its separator line ``i + 1``), and the line after it."""
    header = _cells(lines[i])
    align = [_align(c) for c in _cells(lines[i + 1])]
    align = (align + ["left"] * len(header))[:len(header)]
    rows = []
    i += 2
    while i < len(lines) and lines[i].strip() and "|" in lines[i]:
        cells = (_cells(lines[i]) + [""] * len(header))[:len(header)]
        rows.append([inline(c) for c in cells])
        i += 1
    return Block("table", header=[inline(c) for c in header], align=align, rows=rows), i


def _list(lines: list[str], i: int, shift: int) -> tuple[Block, int]:
    """The list starting at line ``i``: its items of one kind (numbered or not), each with its continuation
    lines, and the line after it."""
    ordered = _BULLET.match(lines[i]).group(1) is not None  # type: ignore[union-attr]
    block = Block("list", ordered=ordered)
    while i < len(lines):
        b = _BULLET.match(lines[i])
        if b and (b.group(1) is not None) == ordered:
            block.items.append(inline(b.group(2).strip()))
            block.item_verdicts.append(_verdict(b.group(2).strip()))
        elif b is None and lines[i].strip() and lines[i].startswith((" ", "\t")) and block.items:
            prev = block.items.pop()  # a continuation line of the item before
            raw = block.item_verdicts.pop()
            text_so_far = _plain(prev) + " " + lines[i].strip()
            block.items.append(inline(text_so_far))
            block.item_verdicts.append(raw or _verdict(text_so_far))
        else:
            break
        i += 1
    return block, i


_BLOCKS = {"code": _code, "heading": _heading, "table": _table, "list": _list}


def _paragraph(lines: list[str]) -> Block:
    joined = " ".join(s.strip() for s in lines)
    return Block("paragraph", inline(joined), verdict=_verdict(joined))


def parse(text: str, *, shift: int = 0) -> list[Block]:
    """Blocks of ``text``; headings move ``shift`` levels down (at most to level 6)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[Block] = []
    para: list[str] = []
    i = 0
    while i < len(lines):
        kind = _kind(lines, i, bool(para))
        if kind == "text":
            para.append(lines[i])
            i += 1
            continue
        if para:
            blocks.append(_paragraph(para))
            para = []
        if kind in _BLOCKS:
            block, i = _BLOCKS[kind](lines, i, shift)
            blocks.append(block)
            continue
        if kind == "rule":
            blocks.append(Block("rule"))
        i += 1  # past the rule or the blank line
    if para:
        blocks.append(_paragraph(para))
    return blocks


def _plain(tokens: list[Token]) -> str:
    """Tokens back to Markdown source (to extend a list item with a continuation line)."""
    out = []
    for t in tokens:
        if t.kind == "text":
            out.append(re.sub(r"([\\`*_\[\]!|])", r"\\\1", t.text))
        elif t.kind == "code":
            out.append(f"`{t.text}`")
        elif t.kind == "strong":
            out.append(f"**{t.text}**")
        elif t.kind == "em":
            out.append(f"*{t.text}*")
        elif t.kind == "link":
            out.append(f"[{t.text}]({t.target})")
        else:
            out.append(f"![{t.text}]({t.target})")
    return "".join(out)


def images(blocks: list[Block]) -> list[Token]:
    """Every image token in ``blocks`` (to resolve their sources)."""
    found = []

    def scan(tokens: list[Token]) -> None:
        found.extend(t for t in tokens if t.kind == "image")

    for b in blocks:
        scan(b.inlines)
        for item in b.items:
            scan(item)
        for cell in b.header:
            scan(cell)
        for row in b.rows:
            for cell in row:
                scan(cell)
    return found
