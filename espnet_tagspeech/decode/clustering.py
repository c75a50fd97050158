"""Average-linkage clustering (cosine distance) with cannot-link constraints, in time windows.

Used by :mod:`espnet_tagspeech.decode.voices`.  Two facts keep it cheap:

* The average cosine distance between two sets of unit vectors is
  ``1 - S_a . S_b / (n_a n_b)`` with ``S`` the sum of a set's unit vectors, so a
  cluster is summed up exactly by ``(S, n)``: clusters found in one window can
  be clustered further as items of their own without losing the average linkage.
* Within one clustering, the matrix of cluster distances is updated in O(k) per
  merge (Lance-Williams: the merged row is the size-weighted mean of the two
  rows), cannot-links are infinite distances (a mean with an infinite term stays
  infinite: the OR of the two rows' constraints), and each row keeps its nearest
  allowed neighbour, so finding the next pair costs O(k) as well.

For long recordings (items with times and ``window_sec``), items are first
clustered within windows of ``window_sec`` seconds, the windows' clusters then
within windows four times as long, and so on until one window holds everything:
the work grows linearly with the recording's length.  When one window covers
all items, the result is the plain clustering of all of them.
"""

import logging
from typing import List, Optional, Sequence

import numpy as np

logger = logging.getLogger(__name__)
WINDOW_GROWTH = 4  # each level's windows are this many times as long as the previous level's


def unit_rows(emb: np.ndarray) -> np.ndarray:
    """Rows of ``emb`` scaled to unit length (zero rows stay zero)."""
    emb = np.asarray(emb, dtype=np.float64)
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-9)


def pairs_from_groups(groups: Sequence[str]) -> np.ndarray:
    """``(m, 2)`` index pairs ``i < j`` of items in the same group."""
    index: dict = {}
    code = np.array([index.setdefault(g, len(index)) for g in groups], dtype=np.int64)
    order = np.argsort(code, kind="stable")
    bounds = np.flatnonzero(np.diff(code[order])) + 1
    out = []
    for members in np.split(order, bounds):
        if len(members) > 1:
            i, j = np.triu_indices(len(members), 1)
            out.append(np.stack([members[i], members[j]], axis=1))
    return _canonical(np.concatenate(out) if out else np.zeros((0, 2), np.int64))


def _canonical(pairs: np.ndarray) -> np.ndarray:
    """Pairs as unique rows ``(low, high)`` without self-pairs."""
    pairs = np.sort(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def _agglomerate(
    dist: np.ndarray, counts: np.ndarray, threshold: Optional[float], num_clusters: Optional[int]
) -> np.ndarray:
    """Average-linkage agglomeration of ``k`` units given their distance matrix.

    Args:
        dist: ``(k, k)`` distances, infinite on the diagonal and between units
            that must stay apart; overwritten.
        counts: Items per unit (the weights of the Lance-Williams update).
        threshold: Stop when the closest allowed pair is farther than this
            (``None``: no distance limit).
        num_clusters: Stop at this many clusters (``None``: no count limit).

    Returns:
        ``(k,)`` the lowest unit index of each unit's cluster.  Of equally close
        pairs, the one with the lowest first, then second, index merges first.
    """
    k = len(counts)
    root = np.arange(k)
    counts = np.asarray(counts, dtype=np.float64).copy()
    rows = np.arange(k)
    nearest = np.argmin(dist, axis=1) if k else root
    near_d = dist[rows, nearest] if k else np.zeros(0)
    active = k
    while active > 1:
        if num_clusters is not None and active <= num_clusters:
            break
        a = int(np.argmin(near_d))  # lowest row holding the closest pair; its nearest is the lowest column
        best = float(near_d[a])
        if not np.isfinite(best) or (threshold is not None and best > threshold):
            break
        b = int(nearest[a])
        merged = (counts[a] * dist[a] + counts[b] * dist[b]) / (counts[a] + counts[b])
        merged[a] = merged[b] = np.inf
        dist[a], dist[:, a] = merged, merged
        dist[b], dist[:, b] = np.inf, np.inf
        counts[a] += counts[b]
        root[root == b] = a
        active -= 1
        near_d[b] = np.inf
        stale = (nearest == a) | (nearest == b)
        # rows whose nearest unit was not touched: only the merged unit can have come closer
        closer = ~stale & np.isfinite(merged) & ((merged < near_d) | ((merged == near_d) & (a < nearest)))
        nearest[closer], near_d[closer] = a, merged[closer]
        stale = np.flatnonzero(stale & np.isfinite(near_d))  # a row no unit may join stays so
        if len(stale):
            nearest[stale] = np.argmin(dist[stale], axis=1)
            near_d[stale] = dist[stale, nearest[stale]]
    return root


def _cluster_units(
    sums: np.ndarray,
    counts: np.ndarray,
    pairs: np.ndarray,
    threshold: Optional[float],
    num_clusters: Optional[int],
) -> np.ndarray:
    """Cluster units ``(sum of unit vectors, count)``; ``pairs`` (local indices) stay apart."""
    dist = 1.0 - (sums @ sums.T) / np.outer(counts, counts)
    np.fill_diagonal(dist, np.inf)
    if len(pairs):
        dist[pairs[:, 0], pairs[:, 1]] = np.inf
        dist[pairs[:, 1], pairs[:, 0]] = np.inf
    return _agglomerate(dist, counts, threshold, num_clusters)


def _cluster_in_windows(
    sums: np.ndarray,
    counts: np.ndarray,
    pairs: np.ndarray,
    block: np.ndarray,
    threshold: float,
    num_clusters: Optional[int],
) -> np.ndarray:
    """One level: cluster the units of each window (``block`` id per unit) on its own.

    Within a window, merging stops at ``threshold`` or at ``num_clusters``
    clusters, whichever comes first (later levels can still merge further).

    Returns:
        ``(k,)`` the lowest unit index of each unit's cluster.
    """
    k = len(counts)
    root = np.arange(k)
    order = np.argsort(block, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(block[order]) != 0])
    local = np.empty(k, np.int64)
    # pairs inside one window, grouped by window
    inside = pairs[block[pairs[:, 0]] == block[pairs[:, 1]]] if len(pairs) else pairs
    inside = inside[np.argsort(block[inside[:, 0]], kind="stable")]
    pair_block = block[inside[:, 0]]
    for idx in np.split(order, starts[1:]):
        local[idx] = np.arange(len(idx))
        b = block[idx[0]]
        sub = inside[np.searchsorted(pair_block, b, "left"): np.searchsorted(pair_block, b, "right")]
        r = _cluster_units(sums[idx], counts[idx], local[sub], threshold, num_clusters)
        root[idx] = idx[r]
    return root


def cluster_items(
    emb: np.ndarray,
    pairs: np.ndarray,
    threshold: float,
    num_clusters: Optional[int] = None,
    times: Optional[Sequence[float]] = None,
    window_sec: Optional[float] = None,
) -> np.ndarray:
    """Average-linkage clustering of items with sparse cannot-links, optionally in windows.

    Args:
        emb: ``(n, d)`` embeddings (compared by cosine distance).
        pairs: ``(m, 2)`` item pairs that must not share a cluster.
        threshold: Stop when the closest allowed pair is farther than this.
        num_clusters: Stop at this many clusters instead (threshold ignored at
            the last level), if the constraints allow it.
        times: Time of each item (e.g. its start), needed for ``window_sec``.
        window_sec: Cluster within windows of this many seconds first (see the
            module docstring); ``None`` clusters all items at once.

    Returns:
        ``(n,)`` cluster index per item, numbered by first appearance.
    """
    n = len(emb)
    if n == 0:
        return np.zeros(0, np.int64)
    sums = unit_rows(emb)
    counts = np.ones(n)
    pairs = _canonical(pairs)
    unit_of = np.arange(n)
    if window_sec is not None and times is None:
        raise ValueError("window_sec needs the items' times")
    t = np.asarray(times, dtype=np.float64) if times is not None else np.zeros(n)
    width = window_sec
    level = 0
    while True:
        k = len(counts)
        block = np.zeros(k, np.int64)
        if width is not None and k > 1:
            block = np.floor((t - t.min()) / width).astype(np.int64)
        if block.min() == block.max():
            final_threshold = threshold if num_clusters is None else None
            root = _cluster_units(sums, counts, pairs, final_threshold, num_clusters)
            break
        root = _cluster_in_windows(sums, counts, pairs, block, threshold, num_clusters)
        keep, new_of = np.unique(root, return_inverse=True)
        logger.debug("level %d: %d units in %d windows -> %d clusters", level, k, block.max() + 1, len(keep))
        new_sums = np.zeros((len(keep), sums.shape[1]))
        np.add.at(new_sums, new_of, sums)
        new_t = np.full(len(keep), np.inf)
        np.minimum.at(new_t, new_of, t)
        sums, counts, t = new_sums, np.bincount(new_of, weights=counts), new_t
        pairs = _canonical(new_of[pairs]) if len(pairs) else pairs
        unit_of = new_of[unit_of]
        width *= WINDOW_GROWTH
        level += 1
    _, first = np.unique(root[unit_of], return_index=True)
    rank = np.empty(n, np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    _, label = np.unique(root[unit_of], return_inverse=True)
    return rank[label]


def cluster_with_constraints(
    emb: np.ndarray,
    groups: Sequence[str],
    threshold: float,
    num_clusters: Optional[int] = None,
    cannot_link: Optional[np.ndarray] = None,
    *,
    cannot_pairs: Optional[np.ndarray] = None,
    times: Optional[Sequence[float]] = None,
    window_sec: Optional[float] = None,
) -> List[int]:
    """Average-linkage clustering in which items of one group never share a cluster.

    Args:
        emb: ``(n, d)`` embeddings.
        groups: Group (cut) of each item.
        threshold: Stop when the closest allowed pair is farther than this (cosine).
        num_clusters: Stop at this many clusters instead (threshold ignored), if
            the constraints allow it.
        cannot_link: Optional ``(n, n)`` boolean matrix of further pairs that must
            stay apart (e.g. lines that overlap in time).
        cannot_pairs: Optional ``(m, 2)`` item pairs that must stay apart (the
            sparse form of ``cannot_link``, for many items).
        times: Time of each item, for ``window_sec``.
        window_sec: Cluster within windows of this many seconds first, then the
            windows' clusters (linear in the recording's length; see
            :func:`cluster_items`); ``None`` clusters all items at once.

    Returns:
        A cluster index per item, numbered by first appearance.
    """
    n = len(groups)
    if n == 0:
        return []
    found = [pairs_from_groups(groups)]
    if cannot_link is not None:
        if cannot_link.shape != (n, n):
            raise ValueError(f"cannot_link must be ({n}, {n}), got {cannot_link.shape}")
        found.append(np.argwhere(np.asarray(cannot_link, dtype=bool)))
    if cannot_pairs is not None:
        found.append(np.asarray(cannot_pairs, dtype=np.int64).reshape(-1, 2))
    pairs = np.concatenate(found)
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError(f"cannot_pairs must index the {n} items")
    return cluster_items(emb, pairs, threshold, num_clusters, times, window_sec).tolist()
