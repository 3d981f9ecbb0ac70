"""Small PDFs written by hand, for tests, samples, fixtures and the parse benchmark: text pages in Helvetica, and
the crafted structures no writer makes (a page tree pointing at itself, a cross-reference loop)."""

import zlib


def _escape(text: str) -> bytes:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1", errors="replace")


def page_stream(lines: list[str], header: str = "", footer: str = "") -> bytes:
    """A content stream: optional header and footer lines, then the lines from the top, 14 pt apart."""
    parts = [b"BT /F1 11 Tf 72 760 Td 14 TL"]
    if header:
        parts.append(b"(" + _escape(header) + b") ' T*")
    parts.extend(b"(" + _escape(line) + b") '" for line in lines)
    parts.append(b"ET")
    if footer:
        parts.append(b"BT /F1 9 Tf 280 40 Td (" + _escape(footer) + b") Tj ET")
    return b"\n".join(parts)


def build_pdf(
    pages: list[bytes],
    info: dict[str, str] | None = None,
    compress: bool = True,
    kids_override: bytes | None = None,
) -> bytes:
    """A PDF of the given content streams (see page_stream); `info` goes to the document information dictionary.

    `kids_override` replaces the page tree's /Kids array (crafted trees).
    """
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled below
    tree = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for content in pages:
        data = zlib.compress(content) if compress else content
        filters = b" /Filter /FlateDecode" if compress else b""
        stream = add(b"<< /Length %d%s >>\nstream\n" % (len(data), filters) + data + b"\nendstream")
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (tree, stream, font)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % tree
    kid_refs = kids_override if kids_override is not None else b" ".join(b"%d 0 R" % k for k in kids)
    objects[tree - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kid_refs, len(kids))
    info_ref = b""
    if info:
        entries = b" ".join(b"/" + key.encode() + b" (" + _escape(value) + b")" for key, value in info.items())
        info_ref = b" /Info %d 0 R" % add(b"<< " + entries + b" >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        info_ref,
        xref,
    )
    return bytes(out)


def text_pdf(pages: list[list[str]], info: dict[str, str] | None = None, header: str = "", footer: str = "") -> bytes:
    """A PDF with one page per list of lines; a footer may hold '{page}'."""
    return build_pdf(
        [page_stream(lines, header, footer.format(page=n)) for n, lines in enumerate(pages, start=1)], info
    )


def encrypted_pdf(data: bytes, user_password: str, owner_password: str = "owner") -> bytes:
    """The PDF encrypted (RC4 128-bit, pypdf's writer; no extra crypto package needed)."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password=owner_password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def flate_bomb_pdf(inflated_bytes: int) -> bytes:
    """One page whose content stream says 'hello bomb' and then inflates to `inflated_bytes` of blanks."""
    compressor = zlib.compressobj(9)
    data = compressor.compress(page_stream(["hello bomb"]) + b"\n")
    for _ in range(inflated_bytes // (1 << 20)):
        data += compressor.compress(b" " * (1 << 20))
    data += compressor.flush()
    plain = build_pdf([data], compress=False)
    return plain.replace(b"/Length %d >>" % len(data), b"/Length %d /Filter /FlateDecode >>" % len(data), 1)
