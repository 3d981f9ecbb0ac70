"""The language of a chunk's text: an ISO 639-1 code, or None where the text is too short or unclear to tell.

py3langid (BSD-3-Clause; langid.py's model of 97 languages, shipped in the wheel, numpy only, no download) with
normalised probabilities. perf/bench_language.py measures it on labelled sentences it did not write.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# A few sentences tell the language; the rest of a chunk would only cost time (the model's cost grows with length).
PREFIX_CHARS = 600
# Below this many letters a guess is noise (a number, a code, one word): better unknown than wrong.
MIN_LETTERS = 6
# Below this probability the model is unsure between languages; unknown rather than a coin toss.
MIN_PROBABILITY = 0.3
_LETTER = re.compile(r"[^\W\d_]")


def detect(text: str) -> str | None:
    """The language of `text`, or None."""
    text = text[:PREFIX_CHARS]
    if len(_LETTER.findall(text)) < MIN_LETTERS:
        return None
    code, probability = _identifier().classify(text)  # reads the model only: safe from several threads
    return str(code) if probability >= MIN_PROBABILITY else None


@cache
def _identifier() -> Any:
    """Loaded once per process (the model is decompressed from the wheel)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
