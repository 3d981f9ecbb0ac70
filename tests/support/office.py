"""Office packages built in memory for tests and fixtures: the real writers where a library has one (openpyxl,
python-docx), hand-made parts where the test needs a part no writer makes (an entity in a slide, a bomb)."""

import io
import zipfile

CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
EXCEL_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
PPTX_MAIN = "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"
SLIDE = "application/vnd.openxmlformats-officedocument.presentationml.slide+xml"
NOTES = "application/vnd.openxmlformats-officedocument.presentationml.notesSlide+xml"
VISIO_MAIN = "application/vnd.ms-visio.drawing.main+xml"
REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
SLIDE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide"
NOTES_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide"
P_NS = "http://schemas.openxmlformats.org/presentationml/2006/main"
A_NS = "http://schemas.openxmlformats.org/drawingml/2006/main"
R_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def zip_parts(parts: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as out:
        for name, data in parts.items():
            out.writestr(name, data)
    return buffer.getvalue()


def content_types(overrides: dict[str, str]) -> bytes:
    rows = "".join(f'<Override PartName="{part}" ContentType="{kind}"/>' for part, kind in overrides.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="{CONTENT_TYPES_NS}">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        f'<Default Extension="xml" ContentType="application/xml"/>{rows}</Types>'
    ).encode()


def rels(targets: list[tuple[str, str, str]]) -> bytes:
    rows = "".join(f'<Relationship Id="{rid}" Type="{kind}" Target="{target}"/>' for rid, kind, target in targets)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<Relationships xmlns="{REL_NS}">{rows}</Relationships>'.encode()


def xlsx(sheets: dict[str, list[list[object]]]) -> bytes:
    """A workbook written by openpyxl: sheet name -> rows of cell values."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def slide_xml(title: str, body: list[str], entity: bytes = b"") -> bytes:
    def shape(kind: str, paragraphs: list[str]) -> str:
        placeholder = f'<p:nvSpPr><p:cNvPr id="1" name="x"/><p:cNvSpPr/><p:nvPr><p:ph type="{kind}"/></p:nvPr>'
        runs = "".join(f"<a:p><a:r><a:t>{text}</a:t></a:r></a:p>" for text in paragraphs)
        return f"<p:sp>{placeholder}</p:nvSpPr><p:txBody><a:bodyPr/>{runs}</p:txBody></p:sp>"

    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + entity
        + f'<p:sld xmlns:p="{P_NS}" xmlns:a="{A_NS}" xmlns:r="{R_NS}"><p:cSld><p:spTree>'
        f"{shape('title', [title])}{shape('body', body)}</p:spTree></p:cSld></p:sld>".encode()
    )


def notes_xml(text: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<p:notes xmlns:p="{P_NS}" xmlns:a="{A_NS}"><p:cSld><p:spTree>'
        '<p:sp><p:nvSpPr><p:cNvPr id="2" name="n"/><p:cNvSpPr/><p:nvPr><p:ph type="body"/></p:nvPr></p:nvSpPr>'
        f"<p:txBody><a:bodyPr/><a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp>"
        "</p:spTree></p:cSld></p:notes>"
    ).encode()


def pptx(slides: list[tuple[str, list[str], str]], entity: bytes = b"") -> bytes:
    """A presentation of (title, body paragraphs, notes) slides, in the parts PowerPoint writes."""
    overrides = {"/ppt/presentation.xml": PPTX_MAIN}
    parts: dict[str, bytes] = {}
    ids = ""
    pres_rels = []
    for number, (title, body, notes) in enumerate(slides, start=1):
        overrides[f"/ppt/slides/slide{number}.xml"] = SLIDE
        parts[f"ppt/slides/slide{number}.xml"] = slide_xml(title, body, entity if number == 1 else b"")
        ids += f'<p:sldId id="{255 + number}" r:id="rId{number}"/>'
        pres_rels.append((f"rId{number}", SLIDE_REL, f"slides/slide{number}.xml"))
        if notes:
            overrides[f"/ppt/notesSlides/notesSlide{number}.xml"] = NOTES
            parts[f"ppt/notesSlides/notesSlide{number}.xml"] = notes_xml(notes)
            parts[f"ppt/slides/_rels/slide{number}.xml.rels"] = rels(
                [("rId9", NOTES_REL, f"../notesSlides/notesSlide{number}.xml")]
            )
    presentation = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<p:presentation xmlns:p="{P_NS}" xmlns:r="{R_NS}">'
        f"<p:sldIdLst>{ids}</p:sldIdLst></p:presentation>"
    ).encode()
    return zip_parts(
        {
            "[Content_Types].xml": content_types(overrides),
            "_rels/.rels": rels([("rId1", OFFICE_DOC_REL, "ppt/presentation.xml")]),
            "ppt/presentation.xml": presentation,
            "ppt/_rels/presentation.xml.rels": rels(pres_rels),
            **parts,
        }
    )


def docx_bytes(build: "object") -> bytes:
    """A document written by python-docx: `build(document)` adds its content."""
    import docx

    document = docx.Document()
    build(document)  # type: ignore[operator]
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
