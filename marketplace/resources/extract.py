"""Child process of files.extract_text: prints {"text": ...} for one PDF, DOCX or PPTX file."""

from __future__ import annotations

import json
import sys


def _pdf(path: str) -> str:
    from pypdf import PdfReader

    reader = PdfReader(path)
    return "\n".join((page.extract_text() or "") for page in reader.pages[:500])


def _docx(path: str) -> str:
    import docx

    document = docx.Document(path)
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" ".join(cell.text for cell in row.cells))
    return "\n".join(parts)


def _pptx(path: str) -> str:
    from pptx import Presentation

    parts = []
    for slide in Presentation(path).slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                parts.append(shape.text_frame.text)
    return "\n".join(parts)


READERS = {
    "application/pdf": _pdf,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": _docx,
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": _pptx,
}


def main() -> None:
    media_type, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Only the first `limit` characters are kept: the rest never reaches the server's pipe (a
    # 240 KB Word file inflating to 40 million characters made the web process read 120 MB).
    text = READERS[media_type](path)[:limit]
    sys.stdout.write(json.dumps({"text": text}, ensure_ascii=False))


if __name__ == "__main__":
    main()
