"""A8: functional forms of the eigendirection profiles — quadratic, quadratic + quartic, or saturating log-cosh.

Each A1 profile L(t) at the end of training is fitted by least squares to

- quadratic:  c + b t + ½ a t²
- quartic:    c + b t + ½ a t² + e t⁴
- log-cosh:   c + b t + a s² log cosh(t / s)   (curvature a at 0, slope a·s far away: saturating)

and the form with the lowest Bayesian information criterion, n log(RSS/n) + k log n, is chosen.
The fitted curvature at 0, the relative quartic term and the log-cosh scale are then set against λ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from landscape.config import Config
from landscape.registry import Analysis
from landscape.store import read_h5, read_summary, write_results

ANALYSIS = Analysis(
    question="A8",
    doc="quadratic, quartic or log-cosh: the form of each eigendirection profile",
    inputs={"linesearch": "result:linesearch"},
    figure="chosen functional form per band, quartic term and log-cosh scale against λ",
)

FORMS = ("quadratic", "quartic", "logcosh")


def _logcosh(t: np.ndarray) -> np.ndarray:
    return np.abs(t) + np.log1p(np.exp(-2 * np.abs(t))) - np.log(2.0)


def fit_forms(ts: np.ndarray, losses: np.ndarray) -> dict[str, dict[str, float]]:
    """Least-squares fits of the three forms with their RSS and BIC; parameters in the units of t and L."""
    n, scale = len(ts), np.abs(ts).max()
    u = ts / scale
    fits = {}
    for form, columns in (("quadratic", [np.ones(n), u, 0.5 * u**2]), ("quartic", [np.ones(n), u, 0.5 * u**2, u**4])):
        design = np.stack(columns, axis=1)
        coefficients, *_ = np.linalg.lstsq(design, losses, rcond=None)
        rss = float(np.sum((design @ coefficients - losses) ** 2))
        fits[form] = {
            "c": coefficients[0],
            "b": coefficients[1] / scale,
            "a": coefficients[2] / scale**2,
            "e": (coefficients[3] / scale**4) if form == "quartic" else 0.0,
            "rss": rss,
            "k": len(columns),
        }
    q = fits["quadratic"]
    a0 = max(q["a"] * scale**2, 1e-12)

    def residual(p: np.ndarray) -> np.ndarray:
        c, b, a, log_s = p
        s = np.exp(log_s)
        return c + b * u + a * s**2 * _logcosh(u / s) - losses

    solution = least_squares(residual, x0=[q["c"], q["b"] * scale, a0, 0.0], method="lm")
    c, b, a, log_s = solution.x
    fits["logcosh"] = {
        "c": c,
        "b": b / scale,
        "a": a / scale**2,
        "s": float(np.exp(log_s) * scale),
        "rss": float(np.sum(solution.fun**2)),
        "k": 4,
    }
    for fit in fits.values():
        fit["bic"] = float(n * np.log(max(fit["rss"], 1e-300) / n) + fit["k"] * np.log(n))
    return fits


def choose(fits: dict[str, dict[str, float]]) -> str:
    """The form with the lowest BIC."""
    return min(FORMS, key=lambda form: fits[form]["bic"])


def analyse(linesearch_results: Path, out: Path, provenance: dict[str, Any]) -> Path:
    """Fit every profile of the last A1 point."""
    label = read_summary(linesearch_results)["labels"][-1]
    with read_h5(linesearch_results, (f"{label}/ts", f"{label}/losses", f"{label}/eigenvalue")) as fh:
        grids, profiles = fh[f"{label}/ts"][:], fh[f"{label}/losses"][:]
        eigenvalues, bands = fh[f"{label}/eigenvalue"][:], fh[f"{label}/band"][:].astype(str)
    chosen, curvature, quartic, scale = [], [], [], []
    for ts, losses in zip(grids, profiles):
        fits = fit_forms(ts, losses)
        chosen.append(choose(fits))
        curvature.append(fits["quadratic"]["a"])
        t_max = np.abs(ts).max()
        rise = max(abs(fits["quartic"]["a"]) * t_max**2 / 2, 1e-300)
        quartic.append(fits["quartic"]["e"] * t_max**4 / rise)  # quartic term at t_max relative to the quadratic term
        scale.append(fits["logcosh"]["s"] / t_max)
    chosen_arr = np.asarray(chosen)
    shares = {
        band: {form: float(np.mean(chosen_arr[bands == band] == form)) for form in FORMS}
        for band in dict.fromkeys(bands)
    }
    overall = {form: float(np.mean(chosen_arr == form)) for form in FORMS}
    summary = {
        "label": label,
        "shares": shares,
        "overall": overall,
        "most_common": max(overall, key=overall.get),
        "most_common_forms": [form for form, share in overall.items() if share == max(overall.values())],
        "criterion": "BIC",
        "top_form": max(shares["top"], key=shares["top"].get),
        # Every form at the top share: a tie is reported as one, not broken by dictionary order.
        "top_forms": [form for form, share in shares["top"].items() if share == max(shares["top"].values())],
    }
    arrays = {
        "eigenvalue": eigenvalues,
        "band": bands.astype("S"),
        "chosen": chosen_arr.astype("S"),
        "curvature": np.asarray(curvature),
        "quartic_ratio": np.asarray(quartic),
        "logcosh_scale": np.asarray(scale),
    }
    return write_results(out, arrays, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, linesearch: Path) -> Path:
    """The declared entry: A1's line searches."""
    return analyse(linesearch, out, provenance)
