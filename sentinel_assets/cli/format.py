"""How the CLI prints: tables (rich, in colour, on a terminal; plain and stable otherwise), JSON,
times and the ``--output`` option every listing command shares."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from datetime import datetime
from typing import Any, Callable, Iterator, Sequence

import click

# the colour of a cell that is exactly one of these words (states, statuses, health verdicts)
STYLES = {
    "FIRING": "bold red", "ALERT": "red", "ERROR": "bold magenta", "PENDING": "yellow",
    "OK": "green", "NO_DATA": "yellow", "NEW": "dim", "never": "dim", "-": "dim",
    "healthy": "green", "degraded": "yellow", "unhealthy": "bold red", "SUCCESS": "green",
    "FAILURE": "red", "sent": "green", "failed": "red",
}


def output_option(json_says: str = "one object per row"):
    """``--output text|json``: a table for people, JSON for scripts."""
    return click.option("--output", type=click.Choice(["text", "json"]), default="text",
                        show_default=True,
                        help=f"text: a table (in colour on a terminal); json: {json_says}.")


def fancy() -> bool:
    """Colour and rich tables only for a person at a terminal (not pipes, files, NO_COLOR)."""
    stream = click.get_text_stream("stdout")
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table with left-aligned columns: rich on a terminal, plain text otherwise."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    if fancy():
        return _rich_table(headers, cells)
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths))
    body = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join([line.rstrip(), *body])


def _rich_table(headers: Sequence[str], cells: list[list[str]]) -> str:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    grid = Table(box=None, header_style="bold", pad_edge=False)
    for header in headers:
        grid.add_column(header.upper(), overflow="fold")
    for row in cells:
        grid.add_row(*(Text(c, style=STYLES.get(c.split(" ")[0], "")) for c in row))
    out = io.StringIO()
    width = shutil.get_terminal_size((120, 24)).columns
    Console(file=out, force_terminal=True, width=width).print(grid)
    return out.getvalue().rstrip("\n")


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if value else "never"


@contextlib.contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for a person at a terminal (nothing otherwise); yields
    ``advance(n)``."""
    stream = click.get_text_stream("stderr")
    if total < 2 or not stream.isatty() or os.environ.get("NO_COLOR"):
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)
