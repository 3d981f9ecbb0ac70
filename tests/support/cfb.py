"""A minimal Compound File Binary (OLE2) writer, for test fixtures: Outlook .msg files and legacy Office look-alikes.

olefile reads CFB but cannot create one. This writes version 3 (512-byte sectors): streams under 4096 bytes in the
mini stream, the rest in regular sectors, one FAT (no DIFAT: up to 109 FAT sectors, ~7 MB, plenty for fixtures).
Siblings are chained to the right in CFB's name order, all black: valid for readers, which do not rebalance.
"""

import itertools
import struct
from dataclasses import dataclass, field

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREE, END, FAT_SECT, NO_STREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
Tree = dict[str, "Tree | bytes"]


@dataclass
class _Entry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    data: bytes = b""
    children: list[int] = field(default_factory=list)
    left: int = NO_STREAM
    right: int = NO_STREAM
    child: int = NO_STREAM
    start: int = END
    size: int = 0


def build_cfb(tree: Tree) -> bytes:
    """A compound file holding `tree`: a name maps to bytes (a stream) or to a dict (a storage)."""
    entries = [_Entry("Root Entry", 5)]
    _add(entries, 0, tree)
    for entry in entries:
        _link_children(entries, entry)
    mini = bytearray()
    minifat: list[int] = []
    big: list[_Entry] = []
    for entry in entries[1:]:
        if entry.kind != 2:
            continue
        entry.size = len(entry.data)
        if not entry.data:
            entry.start = END
        elif entry.size < MINI_CUTOFF:
            count = -(-entry.size // MINI_SECTOR)
            entry.start = len(minifat)
            minifat += [len(minifat) + i + 1 for i in range(count - 1)] + [END]
            mini += entry.data.ljust(count * MINI_SECTOR, b"\x00")
        else:
            big.append(entry)
    dir_sectors = -(-len(entries) * 128 // SECTOR)
    minifat_sectors = -(-len(minifat) * 4 // SECTOR)
    mini_sectors = -(-len(mini) // SECTOR)
    big_sectors = sum(-(-len(e.data) // SECTOR) for e in big)
    payload = dir_sectors + minifat_sectors + mini_sectors + big_sectors
    fat_sectors = 1
    while fat_sectors * (SECTOR // 4) < fat_sectors + payload:
        fat_sectors += 1
    fat = [FAT_SECT] * fat_sectors
    body = bytearray()

    def place(data: bytes) -> int:
        count = -(-len(data) // SECTOR)
        start = len(fat)
        fat.extend([len(fat) + i + 1 for i in range(count - 1)] + [END])
        body.extend(data.ljust(count * SECTOR, b"\x00"))
        return start

    dir_start = len(fat)
    fat.extend([dir_start + i + 1 for i in range(dir_sectors - 1)] + [END])
    body.extend(b"\x00" * dir_sectors * SECTOR)  # written once the starts are known
    minifat_start = place(b"".join(struct.pack("<I", n) for n in minifat)) if minifat else END
    entries[0].start = place(bytes(mini)) if mini else END
    entries[0].size = len(mini)
    for entry in big:
        entry.start = place(entry.data)
    directory = b"".join(_dir_entry(entry) for entry in entries).ljust(dir_sectors * SECTOR, b"\x00")
    for index in range(dir_sectors):
        # every unused 128-byte slot must read as an empty entry (type 0), which zeros are, bar the sibling ids
        body[index * SECTOR : (index + 1) * SECTOR] = directory[index * SECTOR : (index + 1) * SECTOR]
    fat.extend([FREE] * (fat_sectors * (SECTOR // 4) - len(fat)))
    fat_bytes = b"".join(struct.pack("<I", n) for n in fat)
    header = _header(fat_sectors, dir_start, minifat_start, minifat_sectors)
    return header + fat_bytes + bytes(body)


def _add(entries: list[_Entry], parent: int, tree: Tree) -> None:
    for name, value in tree.items():
        index = len(entries)
        if isinstance(value, bytes):
            entries.append(_Entry(name, 2, value))
        else:
            entries.append(_Entry(name, 1))
            _add(entries, index, value)
        entries[parent].children.append(index)


def _link_children(entries: list[_Entry], entry: _Entry) -> None:
    ordered = sorted(entry.children, key=lambda i: (len(entries[i].name), entries[i].name.upper()))
    if not ordered:
        return
    entry.child = ordered[0]
    for current, following in itertools.pairwise(ordered):
        entries[current].right = following


def _dir_entry(entry: _Entry) -> bytes:
    name = entry.name.encode("utf-16-le")[:62]
    return (
        name.ljust(64, b"\x00")
        + struct.pack("<HBB", len(name) + 2, entry.kind, 1)
        + struct.pack("<III", entry.left, entry.right, entry.child)
        + b"\x00" * 16  # CLSID
        + b"\x00" * 4  # state bits
        + b"\x00" * 16  # creation, modification times
        + struct.pack("<IQ", entry.start, entry.size)
    )


def _header(fat_sectors: int, dir_start: int, minifat_start: int, minifat_sectors: int) -> bytes:
    difat = list(range(fat_sectors)) + [FREE] * (109 - fat_sectors)  # the FAT sectors come first: ids 0..n-1
    return (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIII", 0, fat_sectors, dir_start, 0)
        + struct.pack("<IIIII", MINI_CUTOFF, minifat_start, minifat_sectors, END, 0)
        + b"".join(struct.pack("<I", n) for n in difat)
    )


# --- Outlook .msg ----------------------------------------------------------------------------------------------


def msg_string(prop: int, value: str) -> tuple[str, bytes]:
    """A Unicode string property stream (type 001F)."""
    return f"__substg1.0_{prop:04X}001F", value.encode("utf-16-le")


def msg_properties(values: dict[int, tuple[int, int]], header: int) -> bytes:
    """A __properties_version1.0 stream: `header` bytes of header, then (id -> (type, 8-byte int value)) entries."""
    rows = b"".join(struct.pack("<IIQ", (prop << 16) | kind, 6, value) for prop, (kind, value) in values.items())
    return b"\x00" * header + rows


def build_msg(
    subject: str,
    body: str,
    sender: tuple[str, str],
    recipients: list[tuple[str, str, int]],
    attachments: list[tuple[str, "bytes | Tree"]] | None = None,
    filetime: int = 133_600_000_000_000_000,
    embedded: bool = False,
) -> Tree:
    """The storage tree of an Outlook message; recipients are (name, address, 1 To | 2 Cc); an attachment whose
    content is a Tree is an embedded message (built with embedded=True). Pass a top-level one to build_cfb."""
    tree: Tree = dict(
        [
            msg_string(0x0037, subject),
            msg_string(0x1000, body),
            msg_string(0x0C1A, sender[0]),
            msg_string(0x0C1F, sender[1]),
            msg_string(0x0E04, "; ".join(n for n, _, k in recipients if k == 1)),
            msg_string(0x0E03, "; ".join(n for n, _, k in recipients if k == 2)),
            ("__substg1.0_001A001F", "IPM.Note".encode("utf-16-le")),
        ]
    )
    tree["__properties_version1.0"] = msg_properties({0x0039: (0x0040, filetime)}, header=24 if embedded else 32)
    for index, (name, address, kind) in enumerate(recipients):
        tree[f"__recip_version1.0_#{index:08X}"] = dict(
            [
                msg_string(0x3001, name),
                msg_string(0x39FE, address),
                ("__properties_version1.0", msg_properties({0x0C15: (0x0003, kind)}, header=8)),
            ]
        )
    for index, (name, content) in enumerate(attachments or []):
        storage: Tree = dict([msg_string(0x3707, name)])
        if isinstance(content, bytes):
            storage["__substg1.0_37010102"] = content
            method = 1
        else:
            storage["__substg1.0_3701000D"] = content
            method = 5
        storage["__properties_version1.0"] = msg_properties({0x3705: (0x0003, method)}, header=8)
        tree[f"__attach_version1.0_#{index:08X}"] = storage
    return tree
