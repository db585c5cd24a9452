"""Resource files: type from content, a content-addressed store under the data directory, and
text extraction in a separate, time- and memory-bounded process (a hostile PDF costs a killed
child process, never the server)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from marketplace import messages
from marketplace.errors import InvalidInput, Unavailable

PDF, DOCX, PPTX, PNG, JPEG = (
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "image/png",
    "image/jpeg",
)
EXTENSIONS = {PDF: ".pdf", DOCX: ".docx", PPTX: ".pptx", PNG: ".png", JPEG: ".jpg"}
TYPE_LABELS = {PDF: "PDF", DOCX: "Word", PPTX: "PowerPoint", PNG: "PNG 图片", JPEG: "JPEG 图片"}
EXTRACT_SECONDS = 10.0
EXTRACT_MEMORY_BYTES = 1024 * 1024 * 1024
# Extraction children one process runs at once. Each may grow to EXTRACT_MEMORY_BYTES (a
# Word file whose 1 MB body inflates to 1 GB does, until its limit kills it): unbounded, 24
# admitted uploads of such files asked for 24 GB at once. An upload that finds both busy for
# EXTRACT_WAIT_FACTOR times the extraction budget gets 503 (nothing stored, try again).
EXTRACT_CONCURRENT = 2
EXTRACT_WAIT_FACTOR = 3
_extract_slots = threading.BoundedSemaphore(EXTRACT_CONCURRENT)
MAX_TEXT_CHARS = 200_000
# A Word or PowerPoint file is a zip of at most a few thousand parts (a 200-slide deck with
# media: ~2,000). Reading the directory of a 20 MB zip of 200,000 empty entries took the web
# process 4.5 s of interpreter time (every other request waited): the count is read from the
# zip's end record first, and a file with more entries is refused unread.
MAX_ZIP_ENTRIES = 10_000
_END_OF_DIRECTORY = b"PK\x05\x06"
# Executables and scripts, refused by name of what they are (Windows PE, ELF, Mach-O, scripts).
_EXECUTABLE_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",
)


def detect_type(data: bytes) -> str:
    """The media type of `data` from its content; refuses executables and other types."""
    if data.startswith(_EXECUTABLE_MAGIC):
        raise InvalidInput(messages.RESOURCE_FILE_EXECUTABLE, details={"field": "file"})
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        if _zip_entries(data) > MAX_ZIP_ENTRIES:
            raise InvalidInput(
                messages.RESOURCE_FILE_TOO_MANY_PARTS.format(count=MAX_ZIP_ENTRIES),
                details={"field": "file"},
            )
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError):
            names = set()
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return DOCX
        if "[Content_Types].xml" in names and "ppt/presentation.xml" in names:
            return PPTX
    raise InvalidInput(messages.RESOURCE_FILE_TYPE, details={"field": "file"})


def _zip_entries(data: bytes) -> int:
    """The entry count a zip's end-of-directory record declares (0 when it has none, which
    zipfile then refuses); ZIP64 archives, which no office file under our size limit needs,
    count as too many."""
    end = data.rfind(_END_OF_DIRECTORY, max(0, len(data) - 65_557))
    if end < 0 or len(data) < end + 12:
        return 0
    total = int.from_bytes(data[end + 10 : end + 12], "little")
    return MAX_ZIP_ENTRIES + 1 if total == 0xFFFF else total


def safe_filename(name: str, media_type: str) -> str:
    """A display name without paths or control characters, ending in the detected type's suffix."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?')
    stem = base.rsplit(".", 1)[0].strip() or "资料"
    return stem[:150] + EXTENSIONS[media_type]


class FileStore:
    """Blobs named by their SHA-256 under `root` (ab/abcdef…): equal files are stored once."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 digest")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self.path_of(digest)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
                handle.write(data)
                temporary = Path(handle.name)
            os.replace(temporary, target)
        return digest

    def has(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def digests(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob("??/*") if len(p.name) == 64)

    def copy_to(self, target: Path) -> int:
        """Copy every blob into `target` (same layout); returns how many."""
        count = 0
        for digest in self.digests():
            destination = Path(target) / digest[:2] / digest
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.path_of(digest), destination)
            count += 1
        return count

    def restore_from(self, source: Path) -> int:
        """Bring back every blob of a backup copy whose content matches its name."""
        count = 0
        for blob in sorted(Path(source).glob("??/*")):
            data = blob.read_bytes()
            if hashlib.sha256(data).hexdigest() == blob.name:
                self.put(data)
                count += 1
        return count


def store_for(data_dir: Path) -> FileStore:
    return FileStore(Path(data_dir) / "resources" / "files")


@dataclass(frozen=True)
class Extracted:
    text: str
    status: str  # ok | scanned | image | timeout | failed


def extract_text(data: bytes, media_type: str, *, seconds: float = EXTRACT_SECONDS) -> Extracted:
    """Text of a PDF, DOCX or PPTX, extracted in a child process killed after `seconds`."""
    if media_type in (PNG, JPEG):
        return Extracted("", "image")
    if not _extract_slots.acquire(timeout=seconds * EXTRACT_WAIT_FACTOR):
        raise Unavailable(messages.RESOURCE_EXTRACT_BUSY, code="extract_busy")
    try:
        return _extract_in_child(data, media_type, seconds)
    finally:
        _extract_slots.release()


def _extract_in_child(data: bytes, media_type: str, seconds: float) -> Extracted:
    with tempfile.NamedTemporaryFile(suffix=EXTENSIONS[media_type]) as handle:
        handle.write(data)
        handle.flush()
        try:
            done = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
                [
                    sys.executable,
                    "-m",
                    "marketplace.resources.extract",
                    media_type,
                    handle.name,
                    str(MAX_TEXT_CHARS),
                ],
                capture_output=True,
                timeout=seconds,
                preexec_fn=_limit_memory,  # noqa: PLW1509 - only setrlimit, before exec
                check=False,
            )
        except subprocess.TimeoutExpired:
            return Extracted("", "timeout")
    if done.returncode != 0:
        return Extracted("", "failed")
    try:
        text = json.loads(done.stdout.decode("utf-8"))["text"]
    except (ValueError, KeyError):
        return Extracted("", "failed")
    text = text[:MAX_TEXT_CHARS]
    if not text.strip():
        return Extracted("", "scanned" if media_type == PDF else "ok")
    return Extracted(text, "ok")


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (EXTRACT_MEMORY_BYTES, EXTRACT_MEMORY_BYTES))
