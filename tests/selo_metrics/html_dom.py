"""A small DOM of an HTML page (stdlib html.parser), and readers of the report's tables.

Used on the report as written and on the DOM that Chromium dumps after rendering it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        out = list(self.parts)
        for c in self.children:
            out.append(c.text)
        return " ".join(" ".join(out).split())

    def classes(self) -> list[str]:
        return self.attrs.get("class", "").split()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Node]:
        found = []
        for c in self.children:
            if (
                (tag is None or c.tag == tag)
                and (cls is None or cls in c.classes())
                and all(c.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())
            ):
                found.append(c)
            found += c.find_all(tag, cls, **attrs)
        return found

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Node:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag} class={cls} {attrs}>"
        return found[0]


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].parts.append(data)


def parse(html: str) -> Node:
    b = _Builder()
    b.feed(html)
    b.close()
    return b.root


def table_cells(table: Node) -> list[list[str]]:
    """Every row of a table as its cell texts (header row included)."""
    return [[c.text for c in tr.children if c.tag in ("td", "th")] for tr in table.find_all("tr")]


def keyed_rows(table: Node) -> dict[str, dict[str, tuple[str, object]]]:
    """Body rows by their first cell: ``{key: (text, exact value from data-value)}``."""
    out = {}
    for tr in table.find_all("tr"):
        cells = [c for c in tr.children if c.tag == "td"]
        if cells:
            out[cells[0].text] = {
                c.attrs["data-key"]: (c.text, json.loads(c.attrs["data-value"])) for c in cells[1:]
            }
    return out


def markdown_rows(table: str) -> list[list[str]]:
    """The cells of a Markdown table as the terminal prints it (separator line dropped)."""
    rows = []
    for line in table.strip().splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|[-|]+\|", line):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows
