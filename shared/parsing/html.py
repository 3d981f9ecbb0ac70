"""HTML: visible text as block-level records, the title and the links kept as metadata (links are never fetched)."""

import codecs
import re
from collections.abc import Iterator
from typing import BinaryIO

import lxml.html
from lxml import etree

from shared.domain import PermanentError, Reason, Record
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

# Never visible, or not text: their content is dropped with them.
_DROPPED = frozenset(
    {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object", "embed", "canvas"}
)
# Elements that start a new paragraph-level record. Table cells are not blocks: a row reads as one line.
_BLOCKS = frozenset(
    {
        *("html", "body", "main", "article", "section", "aside", "nav", "header", "footer", "div", "p", "address"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "hgroup", "blockquote", "pre", "figure", "figcaption", "hr"),
        *("ul", "ol", "li", "dl", "dt", "dd", "table", "caption", "tr", "form", "fieldset", "legend", "details"),
        *("summary", "dialog", "menu"),
    }
)
_SAFE_SCHEMES = ("http:", "https:", "mailto:", "ftp:")
_MAX_HREF_CHARS = 2048
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE)
_ROOT = object()
_HIDDEN = object()


def parse_html(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record]:
    """Yield one record per block of visible text, locator 'block N', with the title and the block's links."""
    data = read_whole(stream, limits.max_document_bytes, Reason.PARSE_HTML_TOO_LARGE)
    root = _tree(_decode(data, options.encoding))
    if root is None:
        return
    title = _title(root)
    for number, (text, links) in enumerate(_blocks(root, limits.max_links), start=1):
        metadata = {"title": title} if title else {}
        if links:
            metadata["links"] = "\n".join(links)
        yield Record(text=text, locator=f"block {number}", metadata=metadata)


def read_whole(stream: BinaryIO, cap: int, reason: str) -> bytes:
    """The whole stream for formats that cannot stream, refused with `reason` past `cap` bytes."""
    chunks: list[bytes] = []
    size = 0
    # Loop: a raw stream's read(n) may return fewer than n bytes before the end.
    while chunk := stream.read(min(cap + 1 - size, 1 << 20)):
        chunks.append(chunk)
        size += len(chunk)
        if size > cap:
            raise PermanentError(reason, f"read whole, so capped at {cap} bytes")
    return b"".join(chunks)


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment or document, one line per block (for email bodies)."""
    root = _tree(markup)
    return "" if root is None else "\n".join(text for text, _ in _blocks(root, max_links=0))


def _tree(markup: str) -> etree._Element | None:
    """lxml's HTML parser (libxml2): linear on hostile markup, where html.parser can go quadratic."""
    # huge_tree lifts libxml2's 10 MB text-node cap (it would drop text silently); input size is capped by the caller.
    parser = lxml.html.HTMLParser(
        encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, huge_tree=True
    )
    try:
        root = lxml.html.document_fromstring(markup.encode("utf-8", errors="replace"), parser=parser)
    except etree.ParserError:  # nothing but whitespace or comments: an empty document, not an error
        return None
    except (etree.LxmlError, ValueError) as error:
        raise PermanentError(Reason.PARSE_HTML_MALFORMED, str(error)[:500]) from error
    if any(entry.type_name == "ERR_RESOURCE_LIMIT" for entry in parser.error_log):
        raise PermanentError(Reason.PARSE_HTML_TOO_DEEP, "elements nest deeper than the HTML parser allows")
    return root


def _decode(data: bytes, encoding: str | None) -> str:
    """The configured encoding, else a BOM, else UTF-8, else a declared <meta charset>, else windows-1252."""
    candidates = [encoding] if encoding else []
    if data.startswith(codecs.BOM_UTF8):
        candidates.append("utf-8-sig")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.append("utf-16")
    candidates.append("utf-8")
    if declared := _META_CHARSET.search(data[:4096]):
        candidates.append(declared.group(1).decode("ascii"))
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (UnicodeError, LookupError):
            continue
    # windows-1252 maps almost every byte; replacement covers the five it leaves undefined.
    return data.decode("cp1252", errors="replace")


def _title(root: etree._Element) -> str:
    titles = root.xpath("//head/title | //title")
    return _squash(titles[0].text_content())[:1000] if titles else ""


def _blocks(root: etree._Element, max_links: int) -> Iterator[tuple[str, list[str]]]:
    """(text, hrefs) per block, in document order; one linear pass with lxml's iterwalk, no recursion."""
    stack: list[object] = []  # per open element: the block its text belongs to, or _HIDDEN
    links: dict[object, list[str]] = {}
    current: object = _ROOT
    parts: list[str] = []
    for event, element in etree.iterwalk(root, events=("start", "end")):
        parent_block = stack[-1] if stack else _ROOT
        if event == "start":
            block = _block_for(element, parent_block)
            stack.append(block)
            if element.tag == "a" and block is not _HIDDEN and (href := _safe_href(element.get("href"))):
                kept = links.setdefault(block, [])
                if len(kept) < max_links:
                    kept.append(href)
            pieces = [(block, element.text)] if isinstance(element.tag, str) else []
        else:
            stack.pop()
            # An element's tail belongs to its parent's block.
            pieces = [(stack[-1] if stack else _ROOT, element.tail)]
        for block, raw in pieces:
            if block is _HIDDEN or not (text := _squash(raw or "")):
                continue
            if block is not current and parts:
                yield " ".join(parts), links.pop(current, [])
                parts = []
            current = block
            parts.append(text)
    if parts:
        yield " ".join(parts), links.pop(current, [])


def _block_for(element: etree._Element, parent_block: object) -> object:
    tag = element.tag if isinstance(element.tag, str) else ""
    if parent_block is _HIDDEN or tag in _DROPPED or _is_hidden(element):
        return _HIDDEN
    # The element object itself identifies its block: alive for the whole walk, so never confused with another.
    return element if tag in _BLOCKS else parent_block


def _is_hidden(element: etree._Element) -> bool:
    style = (element.get("style") or "").replace(" ", "").lower()
    return element.get("hidden") is not None or "display:none" in style or element.get("aria-hidden") == "true"


def _safe_href(value: str | None) -> str:
    href = _squash(value or "")
    if not href or href.startswith("#") or len(href) > _MAX_HREF_CHARS:
        return ""
    scheme = href.split(":", 1)[0].lower() + ":" if ":" in href else ""
    # Relative links are kept; javascript:, data: and other schemes never are.
    if scheme and scheme not in _SAFE_SCHEMES and "/" not in scheme:
        return ""
    return href


def _squash(text: str) -> str:
    return " ".join(text.split())
