"""`tributary job`'s table of a job's extract batches: which extractor produced each, and what it cost."""

from rich.table import Table

from shared.domain import BatchExtraction
from shared.domain.jobs import extraction_summary


def extraction_table(records: list[BatchExtraction], shown: int = 50) -> Table:
    """The batches (the first `shown`) and, in the caption, their sum."""
    summary = extraction_summary(records)
    table = Table(
        title=f"Extraction ({len(records)} batches)",
        caption=(
            f"requests {summary['requests']}, tokens in {summary['input_tokens']} / out {summary['output_tokens']}, "
            f"chunks: model {summary['model_chunks']}, cache {summary['cached_chunks']}, "
            f"fallback {summary['fallback_chunks']}; dropped {summary['dropped']}"
        ),
    )
    columns = ("batch", "extractor", "chunks", "model", "cache", "fallback", "requests", "tokens in/out", "reason")
    for column in columns:
        table.add_column(column, overflow="fold", justify="left" if column in ("extractor", "reason") else "right")
    for record in records[:shown]:
        table.add_row(
            str(record.batch),
            record.extractor,
            str(record.chunks),
            str(record.model_chunks),
            str(record.cached_chunks),
            str(record.fallback_chunks),
            str(record.requests),
            f"{record.input_tokens}/{record.output_tokens}",
            record.fallback_reason or "",
        )
    return table
