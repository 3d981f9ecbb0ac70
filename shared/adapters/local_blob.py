"""BlobStore over a local folder: the embedded default's stand-in for a storage account."""

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from shared.domain import PermanentError, Reason
from shared.ports import BlobInfo, BlobPage


class LocalFolderBlobStore:
    """Containers are sub-folders of `root`; blob paths are relative POSIX paths below them."""

    def __init__(self, root: Path, account: str = "local") -> None:
        self.root = root
        self.account = account

    def open_read(self, container: str, path: str) -> AbstractContextManager[BinaryIO]:
        return self._file(container, path).open("rb")

    def upload(self, container: str, path: str, data: bytes | BinaryIO) -> BlobInfo:
        target = self._file(container, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a blob (uploads are atomic on Azure too).
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".upload-", delete=False) as temporary:
            if isinstance(data, bytes):
                temporary.write(data)
            else:
                shutil.copyfileobj(data, temporary, length=1 << 20)
        os.replace(temporary.name, target)
        return self.properties(container, path)

    def download_bytes(self, container: str, path: str) -> bytes:
        return self._file(container, path).read_bytes()

    def properties(self, container: str, path: str) -> BlobInfo:
        stat = self._file(container, path).stat()
        return BlobInfo(
            container=container,
            path=path,
            size=stat.st_size,
            etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        )

    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        base = self.root / container
        if not base.is_dir():
            return
        # In name order as Azure lists (by the name as a string: a path sort puts "a/1" before "a-b", Azure after).
        names = sorted(file.relative_to(base).as_posix() for file in base.rglob("*") if file.is_file())
        for relative in names:
            if not PurePosixPath(relative).name.startswith(".upload-") and relative.startswith(prefix):
                yield self.properties(container, relative)

    def list_page(self, container: str, prefix: str = "", continuation: str | None = None, size: int = 500) -> BlobPage:
        """One page of the listing; the token is the last name of the page before (names sort, and stay unique)."""
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        listing = self.list_blobs(container, prefix)
        after = (blob for blob in listing if continuation is None or blob.path > continuation)
        blobs = list(itertools.islice(after, size + 1))  # list_blobs yields in name order, as the token compares
        more = len(blobs) > size
        return BlobPage(blobs=blobs[:size], continuation=blobs[size - 1].path if more else None)

    def delete(self, container: str, path: str) -> None:
        self._file(container, path).unlink(missing_ok=True)

    def _file(self, container: str, path: str) -> Path:
        # Blob names come from users: never let one escape the container folder.
        parts = PurePosixPath(path).parts
        if not parts or PurePosixPath(path).is_absolute() or ".." in parts or "/" in container or not container:
            raise PermanentError(Reason.BLOB_INVALID_PATH, f"{container}/{path}")
        return self.root / container / Path(*parts)
