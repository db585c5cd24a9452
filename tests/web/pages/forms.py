"""Read a page's form like a browser would submit it (inputs, selects, textareas in order)."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    def __init__(self, selector: tuple[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.attr, self.value = selector
        self.depth = 0
        self.fields: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._first_option: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            if self.depth or a.get(self.attr) == self.value:
                self.depth += 1
            return
        if not self.depth:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button", "file"):
                return
            self.fields.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select, self._select_value, self._first_option = name, None, None
        elif tag == "option" and self._select is not None:
            if self._first_option is None:
                self._first_option = a.get("value", "")
            if "selected" in a:
                self._select_value = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea, self._text = name, ""

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.depth:
            self.depth -= 1
        elif tag == "select" and self._select is not None:
            value = self._select_value if self._select_value is not None else self._first_option
            self.fields.append((self._select, value or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.fields.append((self._textarea, self._text))
            self._textarea = None


def form_fields(
    html: str, *, form_id: str | None = None, action: str | None = None
) -> list[tuple[str, str]]:
    """The (name, value) pairs the form with `form_id` (or `action`) would submit."""
    selector = ("id", form_id) if form_id is not None else ("action", action or "")
    reader = _FormReader(selector)
    reader.feed(html)
    return reader.fields


def replace_field(fields: list[tuple[str, str]], name: str, value: str, nth: int = 0) -> None:
    """Set the `nth` field called `name` (as typing into that input would)."""
    seen = 0
    for i, (n, _) in enumerate(fields):
        if n == name:
            if seen == nth:
                fields[i] = (n, value)
                return
            seen += 1
    raise AssertionError(f"no field {name}#{nth}")
