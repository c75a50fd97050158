"""Timeline plots: reference and hypothesis speaker rows plus DER error regions.

One PNG per recording: a row per reference speaker, a row per hypothesis
speaker (ordered and coloured after the reference speaker it is mapped to by
the DER mapping; unmapped ones in grey, last), and an error row split into
three lanes: missed speech, false alarm, speaker confusion. Time not scored
(collars, outside the UEM) is hatched in the error row. The figure has a
fixed pixel size (:func:`figure_size_px`) so that a one-hour recording stays
readable at full width; ``start`` / ``end`` zoom in.
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from espnet_tagspeech.data.atomic import atomic_write
from espnet_tagspeech.data.turn import Turn
from espnet_tagspeech.scoring.der import FileDer, der_for_file
from espnet_tagspeech.scoring.regions import Region, default_uem, speaker_intervals

ROW_PX = 34
MARGIN_TOP_PX = 50
MARGIN_BOTTOM_PX = 60
ERROR_ROW_PX = 3 * 22
_NICE_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
_ERR_COLORS = {"miss": "#d62728", "false alarm": "#ff7f0e", "confusion": "#9467bd"}


def figure_size_px(n_ref: int, n_hyp: int, width_px: int = 2400) -> Tuple[int, int]:
    """Pixel size (width, height) of the PNG for the given numbers of speaker rows."""
    rows = max(n_ref + n_hyp, 1)
    return width_px, MARGIN_TOP_PX + MARGIN_BOTTOM_PX + rows * ROW_PX + ERROR_ROW_PX + ROW_PX


def nice_tick_step(span: float, max_ticks: int = 24) -> float:
    """Smallest 'round' step (s) that puts at most ``max_ticks`` ticks over ``span`` seconds."""
    for step in _NICE_STEPS:
        if span / step <= max_ticks:
            return step
    return float(np.ceil(span / max_ticks / 3600.0) * 3600.0)


def format_clock(t: float, step: float) -> str:
    """``h:mm:ss`` / ``m:ss`` label, with tenths when the tick step is below a second."""
    sign = "-" if t < 0 else ""
    t = abs(t)
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    sec = f"{s:04.1f}" if step < 1 else f"{int(round(s)) % 60:02d}"
    if h >= 1:
        return f"{sign}{int(h)}:{int(m):02d}:{sec}"
    return f"{sign}{int(m)}:{sec}"


def _runs(mask: np.ndarray, starts: np.ndarray, durs: np.ndarray) -> List[Tuple[float, float]]:
    """Merge consecutive flagged stretches into ``(start, width)`` bars."""
    out: List[Tuple[float, float]] = []
    for k in np.flatnonzero(mask):
        s, d = float(starts[k]), float(durs[k])
        if out and abs(out[-1][0] + out[-1][1] - s) < 1e-9:
            out[-1] = (out[-1][0], out[-1][1] + d)
        else:
            out.append((s, d))
    return out


def _bars(iv: np.ndarray) -> List[Tuple[float, float]]:
    return [(float(s), float(e - s)) for s, e in iv]


def plot_recording(
    ref_turns: Sequence[Turn],
    hyp_turns: Sequence[Turn],
    out_png: Union[str, Path],
    regions: Optional[Sequence[Region]] = None,
    collar: float = 0.0,
    start: Optional[float] = None,
    end: Optional[float] = None,
    width_px: int = 2400,
    dpi: int = 100,
    title: Optional[str] = None,
) -> FileDer:
    """Draw one recording's timeline to ``out_png`` (written atomically).

    Args:
        ref_turns: Reference turns of the recording.
        hyp_turns: Hypothesis turns of the recording.
        out_png: Output path.
        regions: Scoring regions (default: dscore's automatic region).
        collar: DER collar for the error row.
        start: Left edge of the view in seconds (default: region start).
        end: Right edge of the view (default: region end).
        width_px: Image width in pixels (height follows the row count).
        dpi: Resolution used to convert pixels to inches.
        title: Figure title (default: recording id and DER).

    Returns:
        The :class:`FileDer` behind the error row.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    rec = (list(ref_turns) + list(hyp_turns) or [None])[0]
    rec_id = rec.recording if rec is not None else "recording"
    if regions is None:
        regions = default_uem(ref_turns, hyp_turns).get(rec_id, [(0.0, 1.0)])
    ref = speaker_intervals(ref_turns, regions)
    hyp = speaker_intervals(hyp_turns, regions)
    fd = der_for_file(ref, hyp, regions, collar=collar)
    inv = {h: r for r, h in fd.mapping.items()}
    ref_names = list(ref)
    order = {r: i for i, r in enumerate(ref_names)}
    hyp_names = sorted(hyp, key=lambda h: (h not in inv, order.get(inv.get(h, ""), 0), h))
    palette = plt.get_cmap("tab20").colors
    # dark tab20 shades for the first ten speakers, light ones after
    color = {r: palette[(2 * i) % 20 + (i >= 10)] for i, r in enumerate(ref_names)}

    w_px, h_px = figure_size_px(len(ref_names), len(hyp_names), width_px)
    fig = plt.figure(figsize=(w_px / dpi, h_px / dpi), dpi=dpi)
    left, right = 150 / w_px, 1 - 30 / w_px
    ax = fig.add_axes([left, MARGIN_BOTTOM_PX / h_px, right - left,
                       1 - (MARGIN_BOTTOM_PX + MARGIN_TOP_PX) / h_px])

    labels: List[str] = []
    y = 0.0
    rows_y: List[float] = []
    for r in ref_names:
        ax.broken_barh(_bars(ref[r]), (y + 0.15, 0.7), facecolors=color[r])
        labels.append(f"ref {r}")
        rows_y.append(y + 0.5)
        y += 1
    for h in hyp_names:
        c = color[inv[h]] if h in inv else "#7f7f7f"
        mapped = h in inv
        ax.broken_barh(_bars(hyp[h]), (y + 0.15, 0.7), facecolors=c,
                       hatch=None if mapped else "//",
                       edgecolor="white" if mapped else "#404040", linewidth=0)
        labels.append(f"hyp {h}" + (f" \u2192 {inv[h]}" if h in inv else " (unmapped)"))
        rows_y.append(y + 0.5)
        y += 1
    y += 0.3
    g = fd.grid
    starts, durs = g.starts, g.durations
    lane_h = (ERROR_ROW_PX / ROW_PX) / 3
    unscored = _runs(~fd.scored, starts, durs)
    for i, (name, arr) in enumerate(
        (("miss", fd.missed), ("false alarm", fd.false_alarm), ("confusion", fd.confusion))
    ):
        ly = y + i * lane_h
        ax.broken_barh(unscored, (ly, lane_h), facecolors="none", edgecolor="#c8c8c8",
                       hatch="..", linewidth=0)
        ax.broken_barh(_runs(arr > 0, starts, durs), (ly + 0.05, lane_h - 0.1),
                       facecolors=_ERR_COLORS[name])
        labels.append(f"error: {name}")
        rows_y.append(ly + lane_h / 2)
    y += 3 * lane_h

    lo = start if start is not None else min(on for on, _ in regions)
    hi = end if end is not None else max(off for _, off in regions)
    if hi <= lo:
        raise ValueError(f"empty view {lo}-{hi}")
    ax.set_xlim(lo, hi)
    ax.set_ylim(y + 0.1, -0.1)
    ax.set_yticks(rows_y)
    ax.set_yticklabels(labels, fontsize=8)
    step = nice_tick_step(hi - lo)
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_minor_locator(MultipleLocator(step / 5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: format_clock(t, step)))
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", which="major", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("time (h:mm:ss)")
    st = fd.stats
    ax.set_title(
        title or f"{rec_id}   DER {st.der:.2f} % (miss {st.miss_rate:.2f}, fa {st.fa_rate:.2f}, "
        f"conf {st.conf_rate:.2f}; collar {collar:g} s)",
        fontsize=10, loc="left",
    )
    with atomic_write(out_png, "wb") as f:
        fig.savefig(f, format="png", dpi=dpi)
    plt.close(fig)
    return fd


def plot_timelines(
    ref_turns: Sequence[Turn],
    hyp_turns: Sequence[Turn],
    out_dir: Union[str, Path],
    recordings: Optional[Sequence[str]] = None,
    uem: Optional[Dict[str, List[Region]]] = None,
    **kwargs: object,
) -> List[Path]:
    """One PNG per recording in ``out_dir`` (``<recording>.png``).

    Args:
        ref_turns: Reference turns (all recordings).
        hyp_turns: Hypothesis turns.
        out_dir: Output directory.
        recordings: Only these ids (default: every reference recording).
        uem: ``{recording: regions}`` (default: automatic).
        **kwargs: Passed to :func:`plot_recording`.

    Raises:
        KeyError: a requested recording has no reference turns.
    """
    by_ref: Dict[str, List[Turn]] = {}
    by_hyp: Dict[str, List[Turn]] = {}
    for t in ref_turns:
        by_ref.setdefault(t.recording, []).append(t)
    for t in hyp_turns:
        by_hyp.setdefault(t.recording, []).append(t)
    ids = list(recordings) if recordings else sorted(by_ref)
    unknown = [r for r in ids if r not in by_ref]
    if unknown:
        raise KeyError(f"no reference turns for recording(s): {' '.join(unknown)}")
    out = []
    for rec in ids:
        path = Path(out_dir) / f"{rec}.png"
        regions = uem.get(rec) if uem else None
        plot_recording(by_ref[rec], by_hyp.get(rec, []), path, regions=regions, **kwargs)
        out.append(path)
    return out
