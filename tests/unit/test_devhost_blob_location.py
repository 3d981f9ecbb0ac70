"""Where an Event Grid BlobCreated event's URL points: account-style (Azure) and path-style (Azurite) URLs."""

import pytest

from shared.devhost.blob_trigger import blob_location


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://acct.blob.core.windows.net/incoming/a/b.txt", ("incoming", "a/b.txt")),
        ("http://127.0.0.1:10000/acct/work/doc/1/0.json", ("work", "doc/1/0.json")),
        ("http://127.0.0.1:10000/acct/incoming/with%20space.txt", ("incoming", "with space.txt")),
        ("https://other.blob.core.windows.net/incoming/a.txt", None),  # another storage account
        ("http://127.0.0.1:10000/acct/incoming", None),  # a container, not a blob
    ],
)
def test_blob_location(url: str, expected: tuple[str, str] | None) -> None:
    assert blob_location(url, "acct") == expected
