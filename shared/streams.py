"""Reading a byte stream whose reads may return less than asked (raw streams, sockets, blob downloads)."""

from collections.abc import Callable


def read_up_to(read: Callable[[int], bytes], size: int) -> bytes:
    """Exactly `size` bytes from repeated `read(n)` calls, unless the stream ends first."""
    parts: list[bytes] = []
    while size > 0:
        part = read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)
