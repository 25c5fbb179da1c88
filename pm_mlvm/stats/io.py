"""Saving and loading statistics as ``.npz`` (NumPy's zip of arrays), without pickle.

So that the reduction (e.g. on a Dask cluster) and the fit can run on different machines,
statistics are written as plain arrays plus a little metadata, and read back with
``allow_pickle=False`` (a statistics file can never run code).

What round-trips exactly: every statistics array (bytes and dtype), the variable names, and
cluster labels whose index has a NumPy dtype (integers, floats, booleans, naive datetimes) or
that are all strings. Other labels (mixed types, tz-aware timestamps, tuples) are stored as
their ``repr`` strings and come back as those strings; the file records this
(``labels_kind="repr"``), and the loaded statistics' ``digest`` then differs from the
original's because their labels do.

This module knows nothing of the statistics classes: it reads and writes dicts.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from pm_mlvm.errors import MLVMInputError

__all__ = ["FORMAT", "write_npz", "read_npz"]

FORMAT = "pm_mlvm.stats/1"


def _encode_labels(labels: pd.Index) -> tuple[np.ndarray, str]:
    values = labels.to_numpy()
    if values.dtype != object and values.dtype.kind in "biufcmM":
        return values, "array"
    if all(isinstance(v, str) for v in values):
        return np.array(list(values), dtype=str).reshape(len(values)), "str"
    return np.array([repr(v) for v in values], dtype=str).reshape(len(values)), "repr"


def _decode_labels(values: np.ndarray, kind: str) -> pd.Index:
    if kind == "array":
        return pd.Index(values)
    if kind == "str":  # pandas' own string inference, as when the labels were factorised
        return pd.Index(values.tolist())
    return pd.Index(values.tolist(), dtype=object)


def write_npz(path, variant: str, fields: dict, var_names, labels: pd.Index, digest: str):
    """Write one statistics object's fields (arrays and ints) to ``path`` (no suffix added)."""
    label_values, label_kind = _encode_labels(labels)
    payload = {f"field_{name}": np.asarray(value) for name, value in fields.items()}
    payload.update(
        meta_format=np.array(FORMAT),
        meta_variant=np.array(variant),
        meta_digest=np.array(digest),
        meta_labels_kind=np.array(label_kind),
        var_names=np.array(list(var_names), dtype=str).reshape(len(var_names)),
        cluster_labels=label_values,
    )
    with open(os.fspath(path), "wb") as handle:
        np.savez(handle, **payload)


def read_npz(path) -> dict:
    """Read a file written by :func:`write_npz`.

    Returns ``dict(variant=, digest=, labels_exact=, var_names=, cluster_labels=, fields=)``.
    """
    try:
        archive = np.load(os.fspath(path), allow_pickle=False)
    except (OSError, ValueError) as err:
        raise MLVMInputError(f"path={os.fspath(path)!r} is not a readable statistics .npz file "
                             f"({err})") from err
    with archive:
        if "meta_format" not in archive.files or str(archive["meta_format"]) != FORMAT:
            raise MLVMInputError(f"path={os.fspath(path)!r} is not a pm_mlvm statistics file "
                                 f"(format {FORMAT!r}); write one with stats.to_npz(path)")
        kind = str(archive["meta_labels_kind"])
        return dict(
            variant=str(archive["meta_variant"]),
            digest=str(archive["meta_digest"]),
            labels_exact=kind != "repr",
            var_names=tuple(str(v) for v in archive["var_names"]),
            cluster_labels=_decode_labels(archive["cluster_labels"], kind),
            fields={name[len("field_"):]: archive[name] for name in archive.files
                    if name.startswith("field_")},
        )
