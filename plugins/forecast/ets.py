"""Exponential smoothing (AutoETS) forecasts to combine with the network's (`data.ets`).

Each series gets statsforecast's AutoETS (Hyndman's state-space exponential smoothing: error,
trend and season additive, multiplicative or none, the trend damped or not, the form chosen per
series by AICc), fitted on its own history. The network's point forecast is then moved a
quarter of the way towards it where the run's hold-out says that helps (`choose_weight`; kept
as ForecastNet.ets_weight): two different kinds of model, whose errors differ. Over 22 runs (M3's
four frequencies at four seeds, M1 and tourism) this never made sMAPE worse and lowered it by
0.12 on average (bench/RESULTS.md, forecast). The bands are the two models' quantiles averaged
(`blend_bands`, half each; ForecastNet.ets_bands): a lower scaled pinball loss on every M3
frequency, and yearly's 80% band back within 3 points of nominal; where the hold-out shows
AutoETS's bands clearly spoiling the network's (`choose_bands`: hourly water flow, whose daily
season AutoETS fits poorly) the network's stand alone.

Series are fitted in parallel processes (one per usable core), each on its last MAX_POINTS
points at most, fewer in files of many series (POINTS_BUDGET): a fit costs about half a
millisecond per point here, so an hourly series of a few years would otherwise take seconds,
at training and again at every `predict`. A history AutoETS cannot fit (too short, or the fit
fails) gets NaN: its forecast stays the network's alone.
"""

from __future__ import annotations

import numpy as np
from rnnsuite.plugins.forecast.forecaster import COLUMNS  # ets_forecasts' columns

__all__ = ["ets_forecasts", "choose_weight", "choose_bands", "blend_points", "blend_bands", "WEIGHTS",
           "BANDS_SHARE"]

#: The shares the hold-out chooses from: the network alone, or a quarter of the way to AutoETS.
#: A finer grid (0, 0.1, ..., 0.5) fitted the hold-out's noise: it chose 0.5 on every M3
#: quarterly seed, where 0.2-0.3 did better on the test (bench/RESULTS.md, forecast).
WEIGHTS = (0.0, 0.25)

#: AutoETS's share of the 80% and 95% band edges at `predict` (the quantiles of the network,
#: calibrated on the hold-out, and of AutoETS averaged). On the saved default forecasts of M3
#: (seeds 0 / 1) the scaled pinball loss fell on every frequency (monthly 0.191 -> 0.188,
#: quarterly 0.278 -> 0.269, yearly 0.646 -> 0.627, other 0.442 -> 0.419) with every band within
#: 3 points of nominal (yearly's 80% band: 82.5-83.1% -> 80.2-81.1%); a quarter did less.
BANDS_SHARE = 0.5

#: Below this many points a history gets no AutoETS forecast.
MIN_POINTS = 4

#: AutoETS sees at most the last max(MAX_POINTS, 3 x season) points of a history. No series of
#: M3, M1 or tourism is longer (tourism monthly's longest has 309); AutoETS alone on tourism
#: monthly, fitted on its last 240 or 120 points, scores 19.52 / 19.36 against 19.09 on all of
#: them, so the cap stays well above what business series have.
MAX_POINTS = 500

#: A call's histories get at most this many points in all: a fit costs about 0.26 s for 500
#: points with a season of 7-12 here (0.11 s for 200; 0.02 s without a season), so 10,000 long
#: daily series would otherwise cost 40 CPU minutes at training and again at every `predict`.
#: Many series each get fewer (`points_cap`), never fewer than CAP_FLOOR points or 3 seasons.
#: M3, M1 and tourism stay within it (M3 monthly, 1,428 series: a cap of 350 > its longest, 144).
POINTS_BUDGET = 500_000
CAP_FLOOR = 60


def points_cap(count: int, season: int) -> int:
    """How many of its last points each of `count` histories gives AutoETS."""
    return max(3 * season, CAP_FLOOR, min(MAX_POINTS, POINTS_BUDGET // max(count, 1)))


def _clean(values: np.ndarray, season: int = 1, cap: int = MAX_POINTS) -> np.ndarray | None:
    """The history from its first finite point, inner gaps interpolated, its last
    max(cap, 3 x season) points; None if too short."""
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if ok.sum() < MIN_POINTS:
        return None
    v = v[np.argmax(ok):]
    ok = np.isfinite(v)
    if not ok.all():
        idx = np.arange(len(v))
        v = np.interp(idx, idx[ok], v[ok])
    return v[-max(cap, 3 * season):]


def _fit_chunk(args) -> np.ndarray:
    import warnings

    from statsforecast.models import AutoETS

    histories, horizon, season, cap = args
    out = np.full((len(histories), horizon, len(COLUMNS)), np.nan)
    for i, values in enumerate(histories):
        y = _clean(values, season, cap)
        if y is None or np.all(y == y[0]):
            continue
        # seasonal forms need two whole seasons; below that AutoETS gets season 1
        m = season if season > 1 and len(y) >= 2 * season else 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                f = AutoETS(season_length=m).forecast(y=y, h=horizon, level=[80, 95])
            f = np.stack([np.asarray(f[k.replace("lo", "lo-").replace("hi", "hi-")], dtype=np.float64)
                          for k in COLUMNS], axis=-1)
        except Exception:   # a history it cannot fit: the network's forecast alone
            continue
        if f.shape == (horizon, len(COLUMNS)) and np.all(np.isfinite(f)):
            out[i] = f
    return out


#: The last few answers of ets_forecasts in this process, by a hash of what they were fitted on
#: (a tune's trials fit the same hold-out again and again).
_MEMO: dict = {}
_MEMO_SIZE = 8


def _memo_key(histories, horizon: int, season: int) -> str:
    import hashlib

    h = hashlib.blake2b(f"{horizon}|{season}|{len(histories)}".encode(), digest_size=16)
    for values in histories:
        v = np.ascontiguousarray(values, dtype=np.float64)
        h.update(len(v).to_bytes(8, "little"))
        h.update(v.tobytes())
    return h.hexdigest()


def ets_forecasts(histories: list[np.ndarray], horizon: int, season: int, processes: int = 0) -> np.ndarray:
    """AutoETS forecasts (len(histories), horizon, 5: COLUMNS, the point and the 80% and 95%
    band edges) of raw histories (NaN = missing); NaN where a history could not be fitted.
    `processes`: 0 = one per usable core. The same histories asked for again in this process are
    answered from memory."""
    key = _memo_key(histories, horizon, season)
    if key not in _MEMO:
        while len(_MEMO) >= _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)))
        _MEMO[key] = _fit_all(histories, horizon, season, processes)
    return _MEMO[key].copy()


def _fit_all(histories, horizon: int, season: int, processes: int) -> np.ndarray:
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        from rnnsuite.core import UserError

        raise UserError("data.ets needs statsforecast (pip install statsforecast), "
                        "or --set data.ets=false") from None
    from rnnsuite.core import progress
    n = len(histories)
    if n == 0:
        return np.zeros((0, horizon, len(COLUMNS)))
    if processes <= 0:
        from rnnsuite.core.launch import usable_cores

        processes = usable_cores()
    processes = max(1, min(processes, n // 8 or 1))   # a handful of series: no pool
    # interleaved chunks, so long and short histories spread evenly over the processes; several
    # per process, so that the progress bar moves
    count = min(n, processes * 16)
    cap = points_cap(n, season)
    jobs = [(histories[k::count], horizon, season, cap) for k in range(count)]
    out = np.empty((n, horizon, len(COLUMNS)))
    with progress(total=n, desc="AutoETS", unit="series", leave=False) as bar:
        if processes == 1:
            parts = map(_fit_chunk, jobs)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
            parts = pool.map(_fit_chunk, jobs)
        try:
            for k, part in enumerate(parts):
                out[k::count] = part
                bar.update(len(part))
        finally:
            if processes > 1:
                pool.shutdown(cancel_futures=True)
    return out


def blend_points(point: np.ndarray, ets: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) x point + weight x ets where the AutoETS forecast exists, else point."""
    if weight <= 0:
        return point
    return np.where(np.isfinite(ets), (1 - weight) * point + weight * np.nan_to_num(ets), point)


def blend_bands(columns: np.ndarray, ets: np.ndarray, share: float) -> np.ndarray:
    """Forecast columns (N, H, 5 in COLUMNS order) whose band edges are (1 - share) x their own
    plus share x AutoETS's (`ets`, the same shape) where AutoETS has a forecast, kept in order
    around the point forecast (lo95 <= lo80 <= point <= hi80 <= hi95)."""
    if share <= 0:
        return columns
    out = columns.copy()
    ok = np.isfinite(ets).all(axis=-1)
    out[..., 1:] = np.where(ok[..., None], (1 - share) * columns[..., 1:] + share * np.nan_to_num(ets[..., 1:]),
                            columns[..., 1:])
    out[..., 1] = np.minimum(out[..., 1], out[..., 0])
    out[..., 2] = np.maximum(out[..., 2], out[..., 0])
    out[..., 3] = np.minimum(out[..., 3], out[..., 1])
    out[..., 4] = np.maximum(out[..., 4], out[..., 2])
    return out


def choose_weight(point: np.ndarray, ets: np.ndarray, actual: np.ndarray) -> float:
    """The share in WEIGHTS whose blend has the lowest sMAPE on `actual` (ties: the smaller)."""
    from rnnsuite.plugins.forecast.metrics import smape

    best_w, best = 0.0, float("inf")
    for w in WEIGHTS:
        err = smape(actual, blend_points(point, ets, w))
        if err < best - 1e-9:
            best_w, best = w, err
    return best_w


def choose_bands(columns: np.ndarray, ets: np.ndarray, actual: np.ndarray, scales: np.ndarray,
                 by_series: bool) -> float:
    """AutoETS's share of the band edges: BANDS_SHARE, or 0 (the network's bands alone) where the
    hold-out shows AutoETS's bands spoiling them: the scaled pinball loss without them lower by
    more than one standard error of the mean difference (per series with `by_series`, else per
    point: a file of one or a few series).

    columns: the network's hold-out forecasts (B, H, 5 in COLUMNS order, original scale) with
    their calibrated bands; ets: AutoETS's (B, H, 5); actual: (B, H); scales: (B,) each series'
    MASE scale. On M3 the hold-out keeps the half share on every frequency; on hourly water flow
    (AutoETS's daily season fitted poorly) the averaged bands scored 4 times the network's loss.
    """
    from rnnsuite.plugins.forecast.metrics import pinball_points

    def loss(cols):   # (B, H): each point's pinball loss over the five quantiles, scaled
        return pinball_points(actual, dict(zip(COLUMNS, np.moveaxis(cols, -1, 0)))) / scales[:, None]

    d = loss(columns) - loss(blend_bands(columns, ets, BANDS_SHARE))   # < 0: the network's alone better
    if by_series:   # each series' mean over its points (a series with none: NaN, left out)
        d = np.where(np.isnan(actual), np.nan, d)
        counts = np.isfinite(d).sum(axis=1)
        d = np.where(counts > 0, np.nansum(d, axis=1) / np.maximum(counts, 1), np.nan)
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return BANDS_SHARE
    return 0.0 if d.mean() + d.std(ddof=1) / np.sqrt(len(d)) < 0 else BANDS_SHARE
