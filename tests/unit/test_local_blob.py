import io
from pathlib import Path

import pytest

from shared.adapters.local_blob import LocalFolderBlobStore
from shared.domain import PermanentError


def test_upload_read_list_delete(tmp_path: Path):
    store = LocalFolderBlobStore(tmp_path, account="acct")
    info = store.upload("incoming", "a/b.txt", io.BytesIO(b"hello"))
    assert (info.path, info.size) == ("a/b.txt", 5)
    with store.open_read("incoming", "a/b.txt") as stream:
        assert stream.read() == b"hello"
    assert [blob.path for blob in store.list_blobs("incoming", prefix="a/")] == ["a/b.txt"]
    store.delete("incoming", "a/b.txt")
    store.delete("incoming", "a/b.txt")  # idempotent
    assert list(store.list_blobs("incoming")) == []


def test_overwrite_changes_the_etag(tmp_path: Path):
    store = LocalFolderBlobStore(tmp_path)
    first = store.upload("c", "x", b"one")
    second = store.upload("c", "x", b"three")
    assert first.etag != second.etag
    assert store.download_bytes("c", "x") == b"three"


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../b", ""])
def test_paths_cannot_escape_the_container(tmp_path: Path, path: str):
    store = LocalFolderBlobStore(tmp_path / "root")
    with pytest.raises(PermanentError) as raised:
        store.upload("c", path, b"x")
    assert raised.value.reason_code == "blob.invalid_path"
    assert not (tmp_path / "escape.txt").exists()
