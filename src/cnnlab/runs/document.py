"""A report as data (headings, paragraphs, tables, figures, code), rendered twice: Markdown
with figures linked, and one self-contained HTML file with figures embedded (base64), so the
report can be mailed or opened offline without its folder."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 980px; margin: 2em auto; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.25em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .8em 0; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: .25em .7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; }
"""


@dataclass
class Document:
    """Blocks in reading order; ``base`` is the folder figure paths are relative to."""

    title: str
    base: Path
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def table(self, header: list[str], rows: list[list[object]]) -> None:
        self.blocks.append(("table", (header, [[str(c) for c in row] for row in rows])))

    def figure(self, path: Path, caption: str) -> None:
        if path.exists():
            self.blocks.append(("figure", (path, caption)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "heading":
                out += [f"## {value}", ""]
            elif kind == "paragraph":
                out += [str(value), ""]
            elif kind == "table":
                header, rows = value
                out.append("| " + " | ".join(header) + " |")
                out.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
                out += ["| " + " | ".join(row) + " |" for row in rows]
                out.append("")
            elif kind == "figure":
                path, caption = value
                out += [f"![{caption}]({path.relative_to(self.base).as_posix()})", ""]
            else:
                out += ["```", str(value), "```", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        esc = html.escape
        body = [f"<h1>{esc(self.title)}</h1>"]
        for kind, value in self.blocks:
            if kind == "heading":
                body.append(f"<h2>{esc(str(value))}</h2>")
            elif kind == "paragraph":
                body.append(f"<p>{esc(str(value))}</p>")
            elif kind == "table":
                header, rows = value
                head = "".join(f"<th>{esc(h)}</th>" for h in header)
                cells = "".join(
                    "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            elif kind == "figure":
                path, caption = value
                mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                body.append(
                    f'<figure><img alt="{esc(caption)}" src="data:{mime};base64,{data}">'
                    f"<figcaption>{esc(caption)}</figcaption></figure>"
                )
            else:
                body.append(f"<pre>{esc(str(value))}</pre>")
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(self.title)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body)
            + "\n</body></html>\n"
        )
