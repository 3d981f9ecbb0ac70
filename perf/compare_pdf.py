"""PDF text libraries compared on the same files: time, peak RSS, text found (perf/README.md, "PDF libraries").

Run: .venv/bin/python -m perf.compare_pdf [PDF ...]
Without arguments: the two PDFs Debian ships on this machine, if present (libtasn1-doc's manual, texinfo/pdfTeX;
shared-mime-info's specification, DocBook), and two generated ones (tests/support/pdf.py: 300 text pages with a
header, page footers and hyphenated line ends; 2,000 empty pages). Each library runs in a fresh process.
"""

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIBRARIES = ("pypdfium2", "pypdf", "pdfminer.six")
DEBIAN_PDFS = (
    Path("/usr/share/doc/libtasn1-doc/libtasn1.pdf"),
    Path("/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"),
)
# Phrases a reader must find (spaces normalised), per file name: from reading the files' pages.
PHRASES = {
    "libtasn1.pdf": ["Abstract Syntax Notation One", "asn1_read_value", "Free Software Foundation"],
    "shared-mime-info-spec.pdf": ["Shared MIME-info Database", "freedesktop.org", "globs2"],
    "generated-300.pdf": ["Ada Lovelace works at Acme Labs", "implemented in Paris", "Grace Hopper joined"],
}


def extract(library: str, path: str) -> list[str]:
    """Text of every page with one library."""
    if library == "pypdfium2":
        import pypdfium2

        document = pypdfium2.PdfDocument(path)
        try:
            return [page.get_textpage().get_text_range() for page in document]
        finally:
            document.close()
    if library == "pypdf":
        from pypdf import PdfReader

        return [page.extract_text() or "" for page in PdfReader(path).pages]
    from pdfminer.high_level import extract_text

    return extract_text(path).split("\f")


def _child(library: str, path: str) -> None:
    start = time.perf_counter()
    pages = extract(library, path)
    seconds = time.perf_counter() - start
    text = " ".join(" ".join(pages).replace("\ufffe", "").replace("-\n", "").split())
    name = Path(path).name
    found = [phrase for phrase in PHRASES.get(name, []) if phrase in text]
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across fork and exec (the parent's peak would show).
    with open("/proc/self/status", encoding="ascii") as status:
        peak_mb = int(status.read().split("VmHWM:")[1].split()[0]) / 1024
    result = {"seconds": seconds, "pages": len(pages), "chars": len(text), "found": len(found), "rss": peak_mb}
    print(json.dumps(result))


def _generated(folder: Path) -> list[Path]:
    from tests.support.pdf import build_pdf, text_pdf

    lines = [
        "Ada Lovelace works at Acme Labs. The reader was im-",
        "plemented in Paris, where Grace Hopper joined the team.",
    ] * 20
    text = folder / "generated-300.pdf"
    text.write_bytes(text_pdf([lines] * 300, header="ACME CONFIDENTIAL", footer="Page {page}"))
    empty = folder / "generated-2000-empty.pdf"
    empty.write_bytes(build_pdf([b""] * 2000))
    return [text, empty]


def main(paths: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="formats-pdf-") as folder:
        files = [Path(p) for p in paths] or [*(p for p in DEBIAN_PDFS if p.exists()), *_generated(Path(folder))]
        print("| file | KB | library | pages | s | pages/s | chars | phrases found | peak RSS MB |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for path in files:
            for library in LIBRARIES:
                run = subprocess.run(
                    [sys.executable, "-m", "perf.compare_pdf", "--child", library, str(path)],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if run.returncode != 0:
                    print(f"| {path.name} | | {library} | failed: {run.stderr.strip().splitlines()[-1][:80]} |")
                    continue
                r = json.loads(run.stdout.strip().splitlines()[-1])
                expected = len(PHRASES.get(path.name, []))
                print(
                    f"| {path.name} | {path.stat().st_size // 1024} | {library} | {r['pages']} | {r['seconds']:.2f} "
                    f"| {r['pages'] / max(r['seconds'], 1e-9):.0f} | {r['chars']} | {r['found']}/{expected} "
                    f"| {r['rss']:.0f} |"
                )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1:])
