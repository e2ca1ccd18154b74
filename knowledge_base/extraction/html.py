"""HTML: visible text block by block, headings as the path, tables as records."""

from __future__ import annotations

import warnings
from typing import Any

from knowledge_base.extraction.document import ExtractedDocument, Section
from knowledge_base.extraction.limits import DEFAULT_LIMITS, ExtractionLimits, check_count
from knowledge_base.extraction.tabular import table_text
from knowledge_base.extraction.text import HeadingPath, clean_text, one_line

_HTML_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "nav",
        "head",
        "iframe",
        "svg",
        "canvas",
        "object",
        "embed",
        "select",
        "button",
        "math",
    }
)
_HTML_BLOCKS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "caption",
        "center",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hr",
        "html",
        "legend",
        "li",
        "main",
        "ol",
        "p",
        "section",
        "summary",
        "ul",
    }
)
# A web page's boilerplate (main-content extraction, ``main_content=True``): the site's
# header, footer, sidebars and forms, by element and by ARIA landmark.
_PAGE_CHROME = frozenset({"header", "footer", "aside", "form", "dialog"})
_CHROME_ROLES = frozenset(
    {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog"}
)
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_FLUSH = object()  # walk marker: the block element whose children were just visited ends here


def extract_html(
    text: str, limits: ExtractionLimits = DEFAULT_LIMITS, *, main_content: bool = False
) -> ExtractedDocument:
    """The page's visible text. With ``main_content`` (a fetched web page), only its main
    content: the ``<main>`` element (or ``role="main"``, or the one ``<article>``) when
    there is one, and never the header, footer, sidebars, navigation or forms."""
    # Every element starts with "<": counting them bounds the tree before it is built.
    check_count(text.count("<"), limits.max_html_elements, "HTML elements")
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(text, "html.parser")
    title = one_line(soup.title.get_text()) if soup.title else ""
    walker = _HtmlWalker(limits.max_paragraphs, drop_chrome=main_content)
    root = _main_element(soup) if main_content else None
    walker.walk(root or soup)
    first_h1 = soup.find("h1")
    if not title and first_h1 is not None:
        title = one_line(first_h1.get_text(" "))
    return ExtractedDocument(title=title or None, sections=walker.sections, metadata={})


def _main_element(soup: Any) -> Any:
    main = soup.find("main") or soup.find(attrs={"role": "main"})
    if main is not None:
        return main
    articles = soup.find_all("article", limit=2)
    return articles[0] if len(articles) == 1 else None


class _HtmlWalker:
    """Iterative walk (deeply nested markup must not hit Python's recursion limit)."""

    def __init__(self, max_sections: int, *, drop_chrome: bool = False) -> None:
        self._drop_chrome = drop_chrome
        self.sections: list[Section] = []
        self._max_sections = max_sections
        self._headings = HeadingPath()
        self._inline: list[str] = []

    def walk(self, root: Any) -> None:
        stack: list[Any] = list(reversed(list(root.children)))
        while stack:
            node = stack.pop()
            if node is _FLUSH:
                self._flush()
            else:
                stack.extend(self._visit(node))
        self._flush()

    def _visit(self, node: Any) -> list[Any]:
        """Handle one node; returns what to push on the stack (children reversed)."""
        from bs4 import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

        if isinstance(node, NavigableString):
            if not isinstance(node, Comment | Declaration | Doctype | ProcessingInstruction):
                self._inline.append(str(node))
            return []
        if not isinstance(node, Tag) or self._hidden(node) or self._chrome(node):
            return []
        name = node.name.lower()
        if name in _HTML_HEADINGS:
            self._flush()
            heading = one_line(node.get_text(" "))
            if heading:
                self._headings.push(_HTML_HEADINGS[name], heading)
            return []
        if name in ("table", "pre"):
            self._flush()
            block = (
                _html_table_text(node) if name == "table" else clean_text(node.get_text()).strip()
            )
            self._add(block)
            return []
        if name == "br":
            self._inline.append("\n")
            return []
        children = list(reversed(list(node.children)))
        if name in _HTML_BLOCKS or name == "tr":
            self._flush()
            return [_FLUSH, *children]
        return children

    @staticmethod
    def _hidden(tag: Any) -> bool:
        return (
            tag.name.lower() in _HTML_DROP
            or tag.has_attr("hidden")
            or str(tag.get("aria-hidden", "")).lower() == "true"
        )

    def _chrome(self, tag: Any) -> bool:
        if not self._drop_chrome:
            return False
        role = str(tag.get("role", "")).lower()
        return tag.name.lower() in _PAGE_CHROME or role in _CHROME_ROLES

    def _flush(self) -> None:
        raw = "".join(self._inline)
        self._inline.clear()
        lines = (" ".join(line.split()) for line in clean_text(raw).split("\n"))
        self._add("\n".join(line for line in lines if line))

    def _add(self, text: str) -> None:
        if text.strip():
            self.sections.append(Section(text, heading=self._headings.current))
            check_count(len(self.sections), self._max_sections, "paragraphs")


def _html_table_text(table: Any) -> str:
    rows: list[list[str]] = []
    for row in table.find_all("tr"):
        if row.find_parent("table") is not table:
            continue  # rows of nested tables are read with their own table's cell text
        cells = [
            one_line(cell.get_text(" ")) for cell in row.find_all(["th", "td"], recursive=False)
        ]
        if any(cells):
            rows.append(cells)
    return table_text(rows)
