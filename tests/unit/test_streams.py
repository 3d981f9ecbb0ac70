import io

from shared.streams import read_up_to


def test_read_up_to_gathers_short_reads_and_stops_at_the_end():
    # GIVEN a stream that hands out at most 3 bytes a read
    stream = io.BytesIO(b"0123456789")

    def short_read(size: int) -> bytes:
        return stream.read(min(size, 3))

    # THEN the exact size comes back over several reads, and the end gives what is left, then nothing
    assert read_up_to(short_read, 7) == b"0123456"
    assert read_up_to(short_read, 7) == b"789"
    assert read_up_to(short_read, 7) == b""
