"""Reading a rendered page's form the way a browser would submit it (for page tests)."""

from __future__ import annotations

import json
from html.parser import HTMLParser


class _FormReader(HTMLParser):
    """The successful controls of the form with `form_id`, outside <template> elements."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.in_form = False
        self.template_depth = 0
        self.values: dict[str, str] = {}
        self.select: str | None = None
        self.select_first: str | None = None
        self.select_chosen = False
        self.option_value: str | None = None
        self.option_text = ""
        self.option_selected = False
        self.textarea: str | None = None
        self.textarea_text = ""

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and attributes.get("id") == self.form_id:
            self.in_form = True
        if not self.in_form:
            return
        if tag == "template":
            self.template_depth += 1
        if self.template_depth:
            return
        name = attributes.get("name")
        if tag == "input" and name is not None:
            kind = attributes.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attributes:
                    self.values[name] = attributes.get("value", "on")
            elif kind not in ("file", "submit", "button"):
                self.values[name] = attributes.get("value", "")
        elif tag == "select":
            self.select, self.select_first, self.select_chosen = name, None, False
        elif tag == "option" and self.select is not None:
            self.option_value = attributes.get("value")
            self.option_text = ""
            self.option_selected = "selected" in attributes
        elif tag == "textarea" and name is not None:
            self.textarea, self.textarea_text = name, ""

    def handle_data(self, data):
        if self.textarea is not None:
            self.textarea_text += data
        elif self.option_value is not None or self.select is not None:
            self.option_text += data

    def handle_endtag(self, tag):
        if not self.in_form:
            return
        if tag == "template":
            self.template_depth -= 1
            return
        if self.template_depth:
            return
        if tag == "form":
            self.in_form = False
        elif tag == "option" and self.select is not None:
            value = self.option_value if self.option_value is not None else self.option_text
            if self.select_first is None:
                self.select_first = value
            if self.option_selected and not self.select_chosen:
                self.select_chosen = True
                self.values[self.select] = value
            self.option_value = None
        elif tag == "select" and self.select is not None:
            if not self.select_chosen and self.select_first is not None:
                self.values[self.select] = self.select_first
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            # Browsers drop one newline right after <textarea>.
            text = self.textarea_text
            self.values[self.textarea] = text[1:] if text.startswith("\n") else text
            self.textarea = None


def form_values(html: str, form_id: str = "editor-form") -> dict[str, str]:
    reader = _FormReader(form_id)
    reader.feed(html)
    return reader.values


def state_post(values: dict[str, str], **extra) -> dict[str, str]:
    """The body the editor's scripts post: the form state as one JSON field, plus extra fields."""
    return {"state": json.dumps(values), **extra}
