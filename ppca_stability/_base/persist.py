"""Results that last: a versioned JSON format for every result, and `load` to read one back.

The format (docs/saving.md describes it for readers in other languages):

* the top level is an object ``{"format": "ppca_stability", "version": 1, "kind": <result class
  name>, "library_version": <package version that wrote it>, "fields": {...}}``;
* ``fields`` holds the result's dataclass fields, the inputs it was built from (a map's spectrum,
  a fit's covariance and history): loading rebuilds the object from them, never by repeating an
  eigendecomposition or a fit, and what a result computes lazily (a map's points, a phase
  diagram's census) is computed again from them on demand;
* values are JSON values, tagged where JSON has no type of its own: an array is
  ``{"array": <nested lists>, "dtype": "float64", "shape": [...]}``, a tuple ``{"tuple": [...]}``,
  a nested result ``{"kind": ..., "fields": {...}}``; floats are written with Python's shortest
  repr that round-trips (at most 17 significant digits), so every float64 reloads bit for bit, and
  the non-finite ones as the strings ``"nan"``, ``"inf"``, ``"-inf"`` (in an array) or
  ``{"float": "nan"}`` (a scalar); integers are exact whatever their size.

The command line's ``--json`` output carries the same header with ``"kind": "cli-output"`` and
its own keys beside it (`json_header`); `load` gives back the result such an output holds whole
(``phase``: a `PhaseDiagram`; ``diagnose`` without a comparison: a `CollapseDiagnostics`), and
the payload as a dict otherwise.

Kinds are looked up in `KINDS` by name, with the module that defines them, so this module
imports none of them (the result modules import this one for their ``save``/``to_json``).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "VERSION",
    "KINDS",
    "json_header",
    "from_json",
    "load",
    "save",
    "to_json",
]

FORMAT = "ppca_stability"
# Bump when a kind's fields change in a way an older reader cannot follow; `load` refuses other
# versions with a message saying which it reads.
VERSION = 1
CLI_KIND = "cli-output"

# kind -> (module that defines it, private fields that are data and are saved too). Every other
# field whose name starts with "_" is a cache or a closure over the covariance and is rebuilt
# (or dropped: a map on a partial spectrum reloads without the covariance to complete it).
KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Spectrum": ("ppca_stability._spectra.spectrum", ()),
    "StabilityMap": ("ppca_stability._ppca.stability", ()),
    "PhaseDiagram": ("ppca_stability._ppca.phase", ("_values", "_floor")),
    "PPCAResult": ("ppca_stability._ppca.mle", ()),
    "ElboStabilityMap": ("ppca_stability._elbo.landscape", ()),
    "TrainingHistory": ("ppca_stability._vae.linear_vae", ()),
    "LinearVAEFit": ("ppca_stability._vae.linear_vae", ()),
    "CollapsePrediction": ("ppca_stability._vae.beta", ()),
    "CollapseDiagnostics": ("ppca_stability._vae.diagnostics", ()),
    "CollapseComparison": ("ppca_stability._vae.comparison", ()),
    "DeepCollapseSweep": ("ppca_stability.deep._reference", ()),
}
# A CLI payload that holds every field of one of these kinds, and none of the keys listed here
# (which say it holds more than that result: a comparison beside the diagnostics), is loaded as
# that kind; its other keys are values derived from those fields.
CLI_KINDS: dict[str, set[str]] = {
    "PhaseDiagram": set(),
    "CollapseDiagnostics": {"linear"},
}
# The dtype of each array field in a CLI payload, where plain JSON lists lose it.
CLI_DTYPES = {
    "PhaseDiagram": {
        "sigma2": "float64",
        "n_above": "int64",
        "n_active": "int64",
        "kl_per_latent": "float64",
        "max_log_likelihood": "float64",
        "breakpoints": "float64",
        "eigenvalues": "float64",
    },
    "CollapseDiagnostics": {
        "kl_per_latent": "float64",
        "mean_variance": "float64",
        "active": "bool",
        "collapsed_fraction": "float64",
    },
}
NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


# ----------------------------------------------------------------------------- encoding
def _float_text(x: float) -> float | str:
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _array_data(a: np.ndarray) -> Any:
    if a.dtype.kind not in "biuf":
        raise TypeError(f"cannot save an array of dtype {a.dtype} (only bool, integer and float).")
    data = a.tolist()  # Python floats: json writes their shortest round-trip repr
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        data = _map_nested(data, _float_text)
    return data


def _map_nested(value: Any, f: Any) -> Any:
    if isinstance(value, list):
        return [_map_nested(v, f) for v in value]
    return f(value)


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        x = float(value)
        return x if math.isfinite(x) else {"float": _float_text(x)}
    if isinstance(value, np.ndarray):
        return {"array": _array_data(value), "dtype": value.dtype.name, "shape": list(value.shape)}
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if dataclasses.is_dataclass(value) and type(value).__name__ in KINDS:
        return {"kind": type(value).__name__, "fields": _fields(value)}
    raise TypeError(f"cannot save a value of type {type(value).__name__}.")


def _fields(result: Any) -> dict[str, Any]:
    kind = type(result).__name__
    keep = KINDS[kind][1]
    return {
        f.name: _encode(getattr(result, f.name))
        for f in dataclasses.fields(result)
        if f.init and (not f.name.startswith("_") or f.name in keep)
    }


def _document(result: Any) -> dict[str, Any]:
    kind = type(result).__name__
    if kind not in KINDS or not dataclasses.is_dataclass(result):
        raise TypeError(
            f"cannot save a {kind}: the kinds that can be saved are {', '.join(sorted(KINDS))}."
        )
    # The package is imported before any of its modules; reading its version from sys.modules
    # keeps this low module from importing the package's face (an import cycle).
    version = sys.modules["ppca_stability"].__version__
    return {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "library_version": version,
        "fields": _fields(result),
    }


def to_json(result: Any) -> str:
    """The result as versioned JSON text (see the module notes); `from_json` reads it back."""
    return json.dumps(_document(result), allow_nan=False)


def save(result: Any, path: str | os.PathLike) -> Path:
    """Write ``to_json(result)`` to `path` (whole or not at all) and return the path."""
    text = to_json(result)
    target = Path(path)
    if target.is_dir():
        raise ValueError(f"`path` {target} is a directory; give a file name such as result.json.")
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def json_header(kind: str = CLI_KIND) -> dict[str, Any]:
    """The header every JSON document of this format starts with: a command's ``--json`` output
    is ``{**json_header(), **payload}`` (kind ``"cli-output"``), which `load` reads back.

    Examples
    --------
    >>> from ppca_stability import json_header
    >>> json_header()
    {'format': 'ppca_stability', 'version': 1, 'kind': 'cli-output'}
    """
    return {"format": FORMAT, "version": VERSION, "kind": kind}


# ----------------------------------------------------------------------------- decoding
def _kind_class(kind: str) -> type:
    if kind not in KINDS:
        raise ValueError(
            f"unknown result kind {kind!r}; this version reads {', '.join(sorted(KINDS))}."
        )
    module = importlib.import_module(KINDS[kind][0])
    return getattr(module, kind)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "array" in value:
        dtype = np.dtype(value["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"arrays of dtype {dtype} are not in the format.")
        # numpy reads the strings "nan", "inf" and "-inf" as floats itself.
        return np.array(value["array"], dtype=dtype).reshape(value["shape"])
    if "tuple" in value:
        return tuple(_decode(v) for v in value["tuple"])
    if "float" in value:
        return NONFINITE[value["float"]]
    if "kind" in value:
        return _build(value["kind"], value["fields"])
    raise ValueError(f"unrecognised value {sorted(value)!r}.")


def _build(kind: str, fields: dict[str, Any]) -> Any:
    cls = _kind_class(kind)
    return cls(**{name: _decode(v) for name, v in fields.items()})


def _from_cli(doc: dict[str, Any]) -> Any:
    payload = {k: v for k, v in doc.items() if k not in ("format", "version", "kind")}
    for kind, more in CLI_KINDS.items():
        cls = _kind_class(kind)
        names = {f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")}
        required = {f.name for f in dataclasses.fields(cls) if f.init and _required(f)}
        if required <= payload.keys() and not more & payload.keys():
            dtypes = CLI_DTYPES[kind]
            return cls(
                **{
                    k: np.array(v, dtype=np.dtype(dtypes[k]))
                    if k in dtypes
                    else (tuple(v) if isinstance(v, list) else v)
                    for k, v in payload.items()
                    if k in names
                }
            )
    return payload


def _required(f: dataclasses.Field) -> bool:
    return (
        not f.name.startswith("_")
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    )


def _check_header(doc: Any, source: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(
            f"{source} is not a ppca_stability result: its JSON has no "
            f'"format": "{FORMAT}" header (files written by Result.save() or the command line\'s '
            "--json have it)."
        )
    version = doc.get("version")
    if version != VERSION:
        raise ValueError(
            f"{source} is in version {version!r} of the ppca_stability result format; this "
            f"version of ppca_stability reads version {VERSION} only"
            + (
                f" (the file was written by ppca_stability {doc['library_version']})."
                if "library_version" in doc
                else "."
            )
        )
    if "kind" not in doc:
        raise ValueError(f'{source} has no "kind": which result it holds is unknown.')
    return doc


def _from_document(doc: Any, source: str) -> Any:
    doc = _check_header(doc, source)
    if doc["kind"] == CLI_KIND:
        return _from_cli(doc)
    if "fields" not in doc or not isinstance(doc["fields"], dict):
        raise ValueError(f'{source} has no "fields" object: the file is truncated or edited.')
    try:
        return _build(doc["kind"], doc["fields"])
    except (TypeError, KeyError) as exc:
        raise ValueError(
            f"{source}: the fields of its {doc['kind']} do not fit this version's ({exc})."
        ) from None


def from_json(text: str) -> Any:
    """The result that `to_json` (or ``Result.to_json()``) wrote as `text`.

    Parameters
    ----------
    text : str
        JSON in the ppca_stability result format (version 1).

    Returns
    -------
    The result, of the class its ``kind`` names (a dict for a command-line payload that holds no
    whole result; see `load`).

    Examples
    --------
    >>> import numpy as np
    >>> from ppca_stability import from_json, phase_diagram
    >>> pd = phase_diagram(np.diag([4.0, 2.0, 1.0]), latent_dim=2, sigma2=[0.5, 1.5, 3.0])
    >>> again = from_json(pd.to_json())
    >>> again.n_active, again.n_points
    (array([2, 2, 1]), (7, 4, 2))
    """
    if not isinstance(text, (str, bytes, bytearray)):
        raise TypeError(f"`text` must be a JSON string; got {type(text).__name__}.")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"`text` is not JSON ({exc}).") from None
    return _from_document(doc, "`text`")


def load(path: str | os.PathLike) -> Any:
    """Read a result saved with ``Result.save(path)``, or a command's ``--json`` output.

    The file says which result it holds (its ``kind``); the object is rebuilt from the inputs
    saved with it, equal field by field (float64 values bit for bit), without repeating the
    computation that made it: ``.plot()`` draws the same figure, and lazily computed parts (a
    map's points, a phase diagram's census) are computed again from the saved spectrum on demand.

    Parameters
    ----------
    path : str or path-like
        A JSON file in the ppca_stability result format (docs/saving.md).

    Returns
    -------
    StabilityMap, PhaseDiagram, PPCAResult, ElboStabilityMap, LinearVAEFit, CollapsePrediction,
    CollapseDiagnostics, CollapseComparison, DeepCollapseSweep (needs the ``deep`` extra), or
    Spectrum, TrainingHistory
        The class the file's ``kind`` names. A command's ``--json`` output gives the result it holds
        whole (``phase``: `PhaseDiagram`; ``diagnose`` without ``--data``:
        `CollapseDiagnostics`) and otherwise its payload as a dict.

    Raises
    ------
    ValueError
        When the file is not JSON, not in this format (the message names the path), or in another
        version of it.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from ppca_stability import load, stability_map
    >>> smap = stability_map(np.diag([5.0, 3.0, 2.0, 1.0]), 1.5, latent_dim=2)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     again = load(smap.save(os.path.join(tmp, "map.json")))
    >>> again.census() == smap.census(), again.global_maximum.active
    (True, (0, 1))
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{p} is a directory; give the .json file a result was saved to.")
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {p}")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError(
            f"{p} is not a ppca_stability result: it is not JSON text (files written by "
            "Result.save() or the command line's --json are)."
        ) from None
    return _from_document(doc, str(p))
