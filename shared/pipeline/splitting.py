"""One text into pieces of at most a number of tokens and characters: at sentence ends, then between words, then
(a run with no space at all) by characters."""

import re
from collections.abc import Callable

from shared.tokens import MAX_COUNTED_CHARS, TokenCounter

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACE = re.compile(r"\s+")
# A merge of two pieces is estimated (their counts and one for the space); near the bound the merge is counted.
_VERIFY_SHARE = 0.9

Piece = tuple[str, int]  # text, tokens


def split_text(text: str, count: TokenCounter, max_tokens: int, max_chars: int) -> list[Piece]:
    """Pieces of at most `max_tokens` tokens and `max_chars` characters each, with their token counts.

    Never loses a character: only the whitespace where the text was cut may change (to one space)."""
    text = text.strip()
    if not text:
        return []
    tokens = count(text) if len(text) <= min(max_chars, MAX_COUNTED_CHARS) else None
    if tokens is not None and tokens <= max_tokens:
        return [(text, tokens)]
    for cut in (SENTENCE_END.split, _SPACE.split, _halves):
        parts = [part for part in cut(text) if part]
        if len(parts) > 1:
            break
    pieces = [piece for part in parts for piece in split_text(part, count, max_tokens, max_chars)]
    return _merge(pieces, count, max_tokens, max_chars)


def _merge(pieces: list[Piece], count: TokenCounter, max_tokens: int, max_chars: int) -> list[Piece]:
    """Adjacent pieces joined by a space while the join stays within both bounds."""
    merged: list[Piece] = []
    for text, tokens in pieces:
        if merged:
            last_text, last_tokens = merged[-1]
            joined = f"{last_text} {text}"
            estimate = last_tokens + tokens + 1  # the space may be a token of its own (before a digit, say)
            if len(joined) <= max_chars and estimate <= max_tokens:
                exact = count(joined) if estimate >= _VERIFY_SHARE * max_tokens else estimate
                if exact <= max_tokens:
                    merged[-1] = (joined, exact)
                    continue
        merged.append((text, tokens))
    return merged


def _halves(text: str) -> list[str]:
    # A run with no whitespace (a hash, base64, a URL) longer than the bounds: cut it where it has to be.
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


def fit_words(text: str, count: Callable[[str], int], max_tokens: int) -> tuple[str, str]:
    """The longest run of whole words from the start of `text` within `max_tokens`, and the rest ('' if all fit)."""
    words = _SPACE.split(text.strip())
    low, high = 0, len(words)  # the answer is in [low, high]: the number of words that fit
    while low < high:
        middle = (low + high + 1) // 2
        if count(" ".join(words[:middle])) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low]), " ".join(words[low:])
