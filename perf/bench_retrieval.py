"""Retrieval check: recall@k of the chunk that holds the answer, old chunking vs new, hashing vs local embedder.

    .venv/bin/python perf/bench_retrieval.py --squad PATH [--new-tokens 512 200] [--questions 0] [--seed 0]
        [--k 1 5] [--threads 1] [--embedders hashing local]

Input is any SQuAD-format file (v1.1, or v2.0 whose unanswerable questions are skipped); the figures in
perf/README.md are on XQuAD's English file (see there for where it comes from). Each article becomes one Markdown
document, as a user would drop a file: `# <title>` then its paragraphs separated by blank lines. The documents go
through our parser (`shared.parsing.parse`, text/markdown) and through two chunkings:

- **old**: one chunk per record, a record longer than `--old-max-chars` (1200, the old TRIBUTARY_CHUNK_MAX_CHARS
  default) split at sentence ends: `chunk_records` of commit 909d55b, vendored below (`old_chunks`), since the
  product no longer has it;
- **new**: `shared.pipeline.chunking.chunk_records` with the default `ChunkSettings` (512 cl100k tokens, 64 of
  overlap, the section title as a `§` prefix); each further `--new-tokens N` adds a "new-N" chunking with that
  target and an eighth of it as overlap.

Every chunk of every document is embedded, and every question, by the hashing embedder (256 dimensions, the
default) and by the local model (all-MiniLM-L6-v2 int8, 384 dimensions, reads a chunk in windows of 254 word pieces).
Retrieval is brute-force cosine top-k over the whole corpus with numpy (the vector index is not what is measured).
A question counts as found at k when one of its k best chunks belongs to its own document and contains one of its
answer texts (exact substring). That is a proxy: a chunk can contain the answer string without the sentence that
answers, and a chunk that paraphrases is missed. Beside each recall: the recall of k chunks drawn at random
(larger chunks are easier to hit) and the characters the k chunks hold (what a reader of the results gets).
`--questions N` samples N questions with `--seed` (0: all).

The run asserts its own sanity: every answer occurs in its document's text and in the parser's records, and in
at least one chunk of its document under each chunking (so recall can reach 100 %). With the local model it also
reports how many chunks exceed the model's 256 word pieces and for how many questions the answer lies in the part
of some chunk that the model reads. Figures are printed as one JSON object with the command that reproduced them
(progress lines go to stderr).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.domain import Chunk, DocumentRef, Record  # noqa: E402
from shared.domain.ids import chunk_id  # noqa: E402

BATCH = 64  # texts per embed call: one enrich message (TRIBUTARY_BATCH_MAX_CHUNKS)


@dataclass(frozen=True)
class Question:
    document: int  # index into the documents
    text: str
    answers: tuple[str, ...]


@dataclass
class Chunking:
    texts: list[str]  # every chunk of every document, in order
    owner: np.ndarray  # the document index of each chunk
    figures: dict[str, object]


@dataclass(frozen=True)
class Corpus:
    titles: list[str]
    documents: list[str]  # Markdown text, one per article
    questions: list[Question]
    paragraphs: int


def load_squad(path: Path) -> Corpus:
    """Articles as Markdown documents, and their answerable questions."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    titles, documents, questions, paragraphs = [], [], [], 0
    for index, article in enumerate(data):
        title = article.get("title", f"Article {index}").replace("_", " ")
        contexts = [paragraph["context"].strip() for paragraph in article["paragraphs"]]
        paragraphs += len(contexts)
        titles.append(title)
        documents.append(f"# {title}\n\n" + "\n\n".join(contexts) + "\n")
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(answer["text"].strip() for answer in qa["answers"]))
                if qa.get("is_impossible") or not answers:
                    continue
                questions.append(Question(index, qa["question"].strip(), answers))
    return Corpus(titles, documents, questions, paragraphs)


# --- Old chunking: shared/pipeline/chunking.py at commit 909d55b (one chunk per record), vendored unchanged in
# --- text so that "before" stays measurable after the product moved on.
_OLD_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def old_chunks(records: Iterable[Record], document: DocumentRef, max_chars: int) -> Iterator[Chunk]:
    """One chunk per record; a record longer than `max_chars` becomes several, split at sentence ends."""
    ordinal = 0
    for record in records:
        for piece in _old_split_text(record.text, max_chars):
            # The old chunk also carried the record's fields, mentions and links on its first piece; the Chunk
            # model has since moved them to `records` (RecordEntry). Retrieval reads only the text, which is as it was.
            yield Chunk(
                chunk_id=chunk_id(document.document_id, document.version, ordinal),
                document_id=document.document_id,
                version=document.version,
                ordinal=ordinal,
                text=piece,
                locator=record.locator,
                metadata=dict(record.metadata),
            )
            ordinal += 1


def _old_split_text(text: str, max_chars: int) -> list[str]:
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for sentence in _OLD_SENTENCE_END.split(text):
        for part in _old_hard_wrap(sentence, max_chars):
            if current and len(current) + 1 + len(part) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = f"{current} {part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _old_hard_wrap(sentence: str, max_chars: int) -> Iterator[str]:
    while len(sentence) > max_chars:
        cut = sentence.rfind(" ", 0, max_chars + 1)
        cut = cut if cut > 0 else max_chars
        yield sentence[:cut].strip()
        sentence = sentence[cut:].strip()
    if sentence:
        yield sentence


# --- End of the vendored old chunking.


def parse_documents(corpus: Corpus) -> list[list[Record]]:
    """Each document's records from our Markdown parser."""
    from shared.parsing import ParseLimits, parse

    limits = ParseLimits()
    parsed = []
    for text in corpus.documents:
        stream = io.BytesIO(text.encode("utf-8"))
        parsed.append([item for item in parse(stream, "text/markdown", limits) if isinstance(item, Record)])
    return parsed


def chunk_all(
    records: list[list[Record]], chunker: Callable[[list[Record], DocumentRef], Iterable[Chunk]]
) -> list[list[str]]:
    """Each document's chunk texts."""
    out = []
    for index, document_records in enumerate(records):
        document = DocumentRef(
            account="bench",
            container="retrieval",
            path=f"article-{index}.md",
            document_id=f"d{index}",
            version="v",
            size=sum(len(record.text) for record in document_records),
            content_type="text/markdown",
        )
        out.append([chunk.text for chunk in chunker(document_records, document)])
    return out


def embed(run: Callable[[Sequence[str]], list[list[float]]], texts: list[str]) -> np.ndarray:
    vectors = []
    for start in range(0, len(texts), BATCH):
        vectors.extend(run(texts[start : start + BATCH]))
    return np.asarray(vectors, dtype=np.float32)


def retrieve(
    question_vectors: np.ndarray,
    chunk_vectors: np.ndarray,
    chunk_document: np.ndarray,
    chunk_texts: list[str],
    questions: list[Question],
    ks: list[int],
) -> dict[str, float]:
    """Recall@k for each k (cosine: vectors are L2-normalised), chance recall@k, characters returned in the top k.

    A question is found at k when one of its k best chunks belongs to its document and holds one of its answers.
    Chance is the recall of k chunks drawn at random, from the number of chunks that would count for each question.
    """
    scores = question_vectors @ chunk_vectors.T
    order = np.argsort(-scores, axis=1, kind="stable")
    lengths = np.asarray([len(text) for text in chunk_texts])
    figures: dict[str, float] = {}
    for k in ks:
        top = order[:, :k]
        found = sum(
            any(chunk_document[c] == q.document and holds_answer(chunk_texts[c], q) for c in top[row])
            for row, q in enumerate(questions)
        )
        figures[f"recall_at_{k}"] = round(found / len(questions), 3)
        figures[f"found_at_{k}"] = found
        figures[f"chance_recall_at_{k}"] = round(chance(chunk_document, chunk_texts, questions, k), 3)
        figures[f"chars_returned_at_{k}"] = round(float(lengths[top].sum(axis=1).mean()))
    return figures


def chance(chunk_document: np.ndarray, chunk_texts: list[str], questions: list[Question], k: int) -> float:
    """Mean over questions of P(k random chunks include one that counts) = 1 - C(m - r, k) / C(m, k)."""
    total = len(chunk_texts)
    mean = 0.0
    for q in questions:
        relevant = sum(
            1 for c, text in enumerate(chunk_texts) if chunk_document[c] == q.document and holds_answer(text, q)
        )
        miss = 1.0
        for i in range(k):  # C(m - r, k) / C(m, k) as a product, without big integers
            miss *= max(total - relevant - i, 0) / (total - i)
        mean += 1.0 - miss
    return mean / len(questions)


def read_by_model(text: str, encoding: Any, max_tokens: int) -> str:
    """The start of `text` that a model truncating at `max_tokens` word pieces ([CLS] and [SEP] included) reads."""
    offsets = [
        offset for offset, special in zip(encoding.offsets, encoding.special_tokens_mask, strict=True) if not special
    ]
    if len(offsets) <= max_tokens - 2:
        return text
    return text[: offsets[max_tokens - 3][1]]


def new_chunks(records: list[Record], document: DocumentRef, settings: Any) -> Iterator[Chunk]:
    """The product's chunking (`shared.pipeline.chunking.chunk_records`) with these settings."""
    from shared.pipeline.chunking import chunk_records

    return chunk_records(records, document, settings)


def holds_answer(text: str, question: Question) -> bool:
    return any(answer in text for answer in question.answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, required=True, help="a SQuAD-format JSON file")
    parser.add_argument("--questions", type=int, default=0, help="questions sampled with --seed (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5], help="recall@k for each")
    parser.add_argument(
        "--new-tokens",
        type=int,
        nargs="+",
        default=[512],
        help="chunk targets of the new chunking (512: the default); overlap is an eighth of each, as 64 is of 512",
    )
    parser.add_argument("--old-max-chars", type=int, default=1200, help="the old TRIBUTARY_CHUNK_MAX_CHARS default")
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads of the local model")
    parser.add_argument("--embedders", nargs="+", default=["hashing", "local"], choices=["hashing", "local"])
    args = parser.parse_args()

    from shared.adapters.hashing_embedder import HashingEmbedder
    from shared.pipeline.chunking import ChunkSettings
    from shared.tokens import token_counter

    command = " ".join([".venv/bin/python", "perf/bench_retrieval.py", *sys.argv[1:]])
    corpus = load_squad(args.squad)
    questions = corpus.questions
    if args.questions and args.questions < len(questions):
        questions = random.Random(args.seed).sample(questions, args.questions)

    # Sanity of the input: every answer is in its document as built, and survives our parser.
    records = parse_documents(corpus)
    record_texts = ["\n".join(record.text for record in document) for document in records]
    for question in questions:
        assert any(answer in corpus.documents[question.document] for answer in question.answers), question
        assert any(answer in record_texts[question.document] for answer in question.answers), question

    settings = ChunkSettings()
    token_counter(settings.encoding)("warm")  # loading the encoding is a once-per-process cost
    chunkers: dict[str, Callable[[list[Record], DocumentRef], Iterable[Chunk]]] = {
        "old": lambda recs, doc: old_chunks(recs, doc, args.old_max_chars),
    }
    for tokens in args.new_tokens:
        variant = replace(settings, target_tokens=tokens, overlap_tokens=tokens // 8)
        name = "new" if variant == settings else f"new-{tokens}"
        chunkers[name] = partial(new_chunks, settings=variant)
    chunkings: dict[str, Chunking] = {}
    for name, chunker in chunkers.items():
        started = time.perf_counter()
        per_document = chunk_all(records, chunker)
        seconds = time.perf_counter() - started
        texts = [text for document in per_document for text in document]
        owner = np.asarray([index for index, document in enumerate(per_document) for _ in document])
        reachable = sum(
            any(holds_answer(text, question) for text in per_document[question.document]) for question in questions
        )
        # The ceiling: a question whose answer no chunk of its document holds could never be found.
        assert reachable == len(questions), f"{name}: {len(questions) - reachable} answers split across chunks"
        counts = [len(document) for document in per_document]
        figures = {
            "chunks": len(texts),
            "chunks_per_document": round(len(texts) / len(per_document), 2),
            "chunks_per_document_min_max": [min(counts), max(counts)],
            "mean_chars_per_chunk": round(sum(map(len, texts)) / len(texts)),
            "chunking_seconds": round(seconds, 3),
        }
        chunkings[name] = Chunking(texts, owner, figures)

    embedders: dict[str, Callable[[Sequence[str]], list[list[float]]]] = {}
    names: dict[str, str] = {}
    if "hashing" in args.embedders:
        hashing = HashingEmbedder(256)
        embedders["hashing"], names["hashing"] = hashing.embed, hashing.name
    if "local" in args.embedders:
        from shared.adapters.local_embedder import LocalModelEmbedder

        local = LocalModelEmbedder(threads=args.threads)
        embedders["local"], names["local"] = local.embed, local.name

    if "local" in embedders:
        from tokenizers import Tokenizer

        from shared.adapters.local_embedder import MAX_TOKENS, MAX_WINDOWS, TOKENIZER

        wordpiece = Tokenizer.from_file(str(TOKENIZER))
        wordpiece.no_truncation()  # the file truncates and pads at 128; here: the whole chunk, to see what is cut
        wordpiece.no_padding()
        for chunking in chunkings.values():
            encodings = wordpiece.encode_batch(chunking.texts)
            visible = [
                read_by_model(text, encoding, MAX_WINDOWS * (MAX_TOKENS - 2) + 2)
                for text, encoding in zip(chunking.texts, encodings, strict=True)
            ]
            sizes = [len(encoding.ids) for encoding in encodings]
            chunking.figures["mean_wordpieces_per_chunk"] = round(sum(sizes) / len(sizes))
            chunking.figures[f"chunks_over_{MAX_TOKENS}_wordpieces"] = round(
                sum(size > MAX_TOKENS for size in sizes) / len(sizes), 3
            )
            # The local model's own ceiling: questions whose answer some chunk of its document holds in the part
            # the model reads (MAX_WINDOWS windows of MAX_TOKENS - 2 word pieces: the whole of any chunk made here).
            seen = sum(
                any(chunking.owner[c] == q.document and holds_answer(prefix, q) for c, prefix in enumerate(visible))
                for q in questions
            )
            chunking.figures["answer_in_what_local_model_reads"] = round(seen / len(questions), 3)

    results = []
    for embedder, run in embedders.items():
        started = time.perf_counter()
        question_vectors = embed(run, [question.text for question in questions])
        question_seconds = time.perf_counter() - started
        for name, chunking in chunkings.items():
            started = time.perf_counter()
            chunk_vectors = embed(run, chunking.texts)
            embed_seconds = time.perf_counter() - started
            recall = retrieve(question_vectors, chunk_vectors, chunking.owner, chunking.texts, questions, args.k)
            results.append(
                {
                    "chunking": name,
                    "embedder": names[embedder],
                    **recall,
                    "questions": len(questions),
                    "chunks": len(chunking.texts),
                    "embed_chunks_seconds": round(embed_seconds, 2),
                    "embed_questions_seconds": round(question_seconds, 2),
                }
            )
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)

    digest = hashlib.sha256(args.squad.read_bytes()).hexdigest()
    report = {
        "command": command,
        "dataset": {
            "file": args.squad.name,
            "sha256": digest,
            "documents": len(corpus.documents),
            "paragraphs": corpus.paragraphs,
            "answerable_questions": len(corpus.questions),
            "questions_used": len(questions),
            "sample": f"{args.questions} with seed {args.seed}" if args.questions else "all",
        },
        "new_chunk_settings": {
            "target_tokens": args.new_tokens,
            "overlap_tokens": [tokens // 8 for tokens in args.new_tokens],
            "max_chars": settings.max_chars,
            "encoding": settings.encoding,
        },
        "old_max_chars": args.old_max_chars,
        "chunkings": {name: chunking.figures for name, chunking in chunkings.items()},
        "results": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
