"""Text extraction runs in at most EXTRACT_CONCURRENT child processes per server process (each
may grow to 1 GB before its limit stops it); an upload that finds every slot busy for three
times the extraction budget is answered 503 "try again", with nothing stored; and however much
text a small file inflates to, the server process reads only the characters it keeps."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from marketplace.errors import Unavailable
from marketplace.resources.files import (
    DOCX,
    EXTRACT_CONCURRENT,
    MAX_TEXT_CHARS,
    Extracted,
    extract_text,
)
from tests.marketplace.resource_support import make_docx

pytestmark = pytest.mark.slow


def slow_docx(parts: int = 100_000) -> bytes:
    """A Word file whose reader spends seconds on its 100,000 parts (CPU, not memory)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("word/document.xml", b"<w:document/>")
        for number in range(parts):
            archive.writestr(f"x/{number}", b"")
    return buffer.getvalue()


def extraction_children() -> int:
    """Live extraction processes started by this process."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"marketplace.resources.extract" in command:
            count += 1
    return count


def test_no_more_than_the_slots_extract_at_once_and_every_upload_is_answered():
    data = slow_docx()
    results: list[Extracted | Exception] = []
    seen: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen.append(extraction_children())
            time.sleep(0.05)

    def upload() -> None:
        try:
            results.append(extract_text(data, DOCX, seconds=4))
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            results.append(exc)

    sampler = threading.Thread(target=sample)
    sampler.start()
    uploads = [threading.Thread(target=upload) for _ in range(EXTRACT_CONCURRENT + 2)]
    for thread in uploads:
        thread.start()
    for thread in uploads:
        thread.join()
    stop.set()
    sampler.join()
    assert max(seen) == EXTRACT_CONCURRENT  # as many as allowed ran together, never more
    assert all(isinstance(r, Extracted) for r in results), results


def test_an_upload_that_finds_every_slot_busy_too_long_gets_503(monkeypatch):
    # the slots are held by extractions that end when the test says so (a real child's run
    # time depends on the machine: on a loaded CI runner they could end before the third
    # upload had waited its 0.9 s)
    release = threading.Event()
    running = threading.Semaphore(0)

    def held(data: bytes, media_type: str, seconds: float) -> Extracted:
        running.release()
        release.wait(30)
        return Extracted("", "ok")

    monkeypatch.setattr("marketplace.resources.files._extract_in_child", held)
    holders = [
        threading.Thread(target=extract_text, args=(b"x", DOCX), kwargs={"seconds": 6})
        for _ in range(EXTRACT_CONCURRENT)
    ]
    for thread in holders:
        thread.start()
    for _ in holders:
        assert running.acquire(timeout=10)  # every slot is taken
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable) as refused:
            extract_text(b"x", DOCX, seconds=0.3)  # waits at most 0.9 s for a slot
        assert refused.value.code == "extract_busy"
        assert "请稍后重新上传" in refused.value.message
        assert time.monotonic() - started < 5
    finally:
        release.set()
        for thread in holders:
            thread.join()
    assert extract_text(b"x", DOCX, seconds=0.3).status == "ok"  # the slots came back


def text_bomb_docx(paragraphs: int = 40_000) -> bytes:
    """A valid Word file of ~240 KB whose text inflates to 40 million characters."""
    source = zipfile.ZipFile(io.BytesIO(make_docx("x")))
    document = source.read("word/document.xml")
    body = document.index(b"<w:body>") + len(b"<w:body>")
    paragraph = b"<w:p><w:r><w:t>" + "学".encode() * 1000 + b"</w:t></w:r></w:p>"
    inflated = document[:body] + paragraph * paragraphs + document[body:]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            name = info.filename
            archive.writestr(name, inflated if name == "word/document.xml" else source.read(name))
    return buffer.getvalue()


def test_a_small_file_that_inflates_to_millions_of_characters_costs_the_server_nothing(tmp_path):
    # Measured in a fresh interpreter: its peak memory before and after the extraction (the
    # server process read 120 MB of JSON from this 240 KB file before the child cut its text).
    upload = tmp_path / "bomb.docx"
    upload.write_bytes(text_bomb_docx())
    probe = (
        "import resource, sys\n"
        "from marketplace.resources.files import DOCX, extract_text\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "found = extract_text(data, DOCX, seconds=60)\n"
        "grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
        "print(found.status, len(found.text), grown // 1024)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", probe, str(upload)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
    )
    status, characters, grown_mb = done.stdout.split()
    assert status == "ok" and int(characters) == MAX_TEXT_CHARS
    assert int(grown_mb) < 20, f"the server process grew by {grown_mb} MB"
