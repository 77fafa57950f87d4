"""Parse a credo report.html: its panels (data keys, point count, decoded PNG), groups, summary rows and notes."""

import base64
from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Panel:
    title: str = ""
    keys: list = field(default_factory=list)
    points: int = 0
    png: bytes = b""
    group: str = ""


class ReportParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.panels, self.groups, self.summary, self.notes = [], [], [], []
        self._panel = None
        self._group = ""
        self._in = None  # "h3" | "th" | "td" | "li"
        self._summary = False
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "section" and "group" in cls:
            self._group = a.get("data-group", "")
            self.groups.append(self._group)
        elif tag == "div" and "panel" in cls:
            self._panel = Panel(keys=a.get("data-keys", "").split(), points=int(a.get("data-points", 0)),
                                group=self._group)
        elif tag == "img" and self._panel is not None:
            src = a.get("src", "")
            assert src.startswith("data:image/png;base64,"), src[:40]
            self._panel.png = base64.b64decode(src.split(",", 1)[1])
        elif tag == "table" and "summary" in cls:
            self._summary = True
        elif tag in ("h3", "th", "td", "li"):
            self._in, self._text = tag, ""

    def handle_endtag(self, tag):
        if tag == "div" and self._panel is not None:
            self.panels.append(self._panel)
            self._panel = None
        elif tag == "section":
            self._group = ""
        elif tag == "table":
            self._summary = False
        elif tag == self._in:
            text = self._text.strip()
            if tag == "h3" and self._panel is not None:
                self._panel.title = text
            elif tag == "th" and self._summary:
                self.summary.append([text, ""])
            elif tag == "td" and self._summary and self.summary:
                self.summary[-1][1] = text
            elif tag == "li":
                self.notes.append(text)
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._text += data


def parse_report(path) -> ReportParser:
    p = ReportParser()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def assert_every_panel_has_data(report: ReportParser) -> None:
    """Every listed panel plots at least one logged key with points, as a real PNG."""
    assert report.panels, "no panels"
    for p in report.panels:
        assert p.title and p.keys, p
        assert p.points >= len(p.keys), (p.title, p.points)
        assert p.png.startswith(b"\x89PNG\r\n\x1a\n") and len(p.png) > 2000, p.title
