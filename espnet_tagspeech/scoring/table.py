"""Plain-text tables (``simple``, ``github`` markdown, ``tsv``) without extra packages."""

from typing import List, Sequence

TABLE_FORMATS = ("simple", "github", "tsv")


def _cell(value: object, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _is_numeric(col: Sequence[object]) -> bool:
    vals = [v for v in col if v is not None]
    return bool(vals) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals
    )


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    fmt: str = "simple",
    digits: int = 2,
) -> str:
    """Render rows as a text table.

    Args:
        headers: Column titles.
        rows: Rows of cells (str, int, float or ``None`` shown as ``-``).
        fmt: ``simple`` (aligned, dashed rule), ``github`` (markdown pipes) or
            ``tsv``.
        digits: Decimal places for floats.

    Returns:
        The table without a trailing newline.
    """
    if fmt not in TABLE_FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; choose from {TABLE_FORMATS}")
    for i, r in enumerate(rows):
        if len(r) != len(headers):
            raise ValueError(f"row {i} has {len(r)} cells, expected {len(headers)}")
    cells = [[_cell(v, digits) for v in r] for r in rows]
    if fmt == "tsv":
        return "\n".join("\t".join(r) for r in [list(headers)] + cells)
    numeric = [_is_numeric([r[j] for r in rows]) for j in range(len(headers))]
    widths = [
        max([len(headers[j])] + [len(r[j]) for r in cells]) for j in range(len(headers))
    ]

    def line(values: Sequence[str]) -> List[str]:
        return [
            v.rjust(widths[j]) if numeric[j] else v.ljust(widths[j])
            for j, v in enumerate(values)
        ]

    if fmt == "github":
        out = ["| " + " | ".join(line(list(headers))) + " |"]
        out.append(
            "|"
            + "|".join(
                ("-" * (widths[j] + 1) + ":") if numeric[j] else (":" + "-" * (widths[j] + 1))
                for j in range(len(headers))
            )
            + "|"
        )
        out += ["| " + " | ".join(line(r)) + " |" for r in cells]
        return "\n".join(out)
    out = ["  ".join(line(list(headers))).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(line(r)).rstrip() for r in cells]
    return "\n".join(out)
