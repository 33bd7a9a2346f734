"""Scaling and windowing: from series to the model's normalised input windows.

Two levels of normalisation (the "normalise your inputs" of the seed, and the per-series
level of ES-RNN):

1. A per-series scaler, fitted on the training history and stored in the run folder:
   ``u = log(y / s)`` when every value of the file is positive (``transform = "log"``),
   else ``u = y / s``, with ``s`` the mean absolute value of the series.
2. Optionally (``WindowSpec.deseasonalize``), a per-series seasonal component: the additive
   seasonal indices of ``u`` (multiplicative in the data when ``u`` is a log) from a classical
   decomposition of the series' own history, kept only when the series passes the usual
   seasonality test (autocorrelation at lag m, 90%). It is subtracted from inputs and targets
   and added back to the forecast, so the network models a deseasonalised series (ES-RNN).
3. A per-window level: the mean of the (deseasonalised) ``u`` over the last season of the
   input window is subtracted from the inputs and the targets, so the network sees shapes,
   not levels.
4. With ``anchor = "theta"`` the targets are offsets from the Theta method's forecast of the
   deseasonalised ``u`` instead of from the level: simple exponential smoothing with drift half
   the linear trend's slope (Hyndman & Billah 2003), from the history up to the window's end
   only. Its start and drift are two more inputs.
5. With ``raw_view`` (a deseasonalised run, mixed anchor, many windows) also the Theta
   forecast of ``u`` with its seasonality left in: two more inputs, which the raw view's
   members read (model.ForecastNet), so that they learn the seasonality from the window.

Training windows are rows of one strided view (``Tensor.unfold``) over all series laid end to
end, so making them copies nothing::

    buffer   [ a0 a1 ... a_n  nan*H | b0 b1 ... b_m  nan*H | ... ]
    windows  rows of buffer.unfold(0, L + H, 1), picked by start offset
             [ input: L points | target: H points (NaN past a series' end = masked) ]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rnnsuite.plugins.forecast.data import ForecastData, Series, calendar_features

__all__ = ["Scaler", "WindowSpec", "seasonal_indices", "detect_season", "theta_path", "seasonal_component",
           "window_features", "history_window", "stacked_inputs", "TrainingWindows"]


@dataclass
class Scaler:
    """Per-series scale plus an optional log transform; see the module docstring."""

    log: bool
    scales: dict

    @classmethod
    def fit(cls, data: ForecastData, transform: str = "auto", cutoff: dict | None = None) -> "Scaler":
        """Fit on each series' values before `cutoff[id]` (all of them when None)."""
        positive = all(np.nanmin(s.values) > 0 for s in data.series)
        if transform == "log" and not positive:
            raise ValueError("the log transform needs positive values")
        log = positive if transform == "auto" else transform == "log"
        scales = {}
        for s in data.series:
            end = cutoff.get(s.id, len(s)) if cutoff else len(s)
            scales[s.id] = _scale_of(s.values[: max(end, 1)])
        return cls(log=log, scales=scales)

    def state_dict(self) -> dict:
        return {"log": self.log, "scales": dict(self.scales)}

    @classmethod
    def from_state(cls, state: dict) -> "Scaler":
        return cls(log=bool(state["log"]), scales={str(k): float(v) for k, v in state["scales"].items()})

    def scale_for(self, series: Series) -> float:
        """The stored scale, or one fitted on the spot for a series the run has not seen."""
        return self.scales.get(series.id) or _scale_of(series.values)

    def forward(self, values: np.ndarray, scale: float) -> np.ndarray:
        y = np.asarray(values, dtype=np.float64) / scale
        if self.log:
            # A non-positive value in a log-scaled run (new data): clip instead of failing.
            return np.log(np.where(np.isnan(y), np.nan, np.maximum(y, 1e-6)))
        return y

    def inverse(self, u, scale):
        return (np.exp(u) if self.log else u) * scale


def _scale_of(values: np.ndarray) -> float:
    v = np.abs(values[~np.isnan(values)])
    s = float(v.mean()) if v.size else 1.0
    return s if s > 0 and np.isfinite(s) else 1.0


@dataclass
class WindowSpec:
    """Window sizes: `input_size` points in, `horizon` points out; `season` sets the level."""

    input_size: int
    horizon: int
    season: int
    # what the network's outputs are added to: level, theta, mixed (theta; every other ensemble
    # member predicts from the level, see model.ForecastNet) or seasonal_naive
    anchor: str = "level"
    deseasonalize: bool = False  # remove each series' seasonal indices (level and theta anchors)
    # The fewest real points an input window may hold: a series shorter than `input_size`
    # trains and forecasts on windows padded in front with missing values (flagged as such)
    # down to this many points. 0: no padding (runs saved before it existed).
    min_input: int = 0
    # Series with fewer whole training windows than this also train on windows padded in front
    # (down to `shortest` points), beside their whole ones: windows a short series lacks. 1:
    # only series without a whole window (runs saved before it existed).
    pad_below: int = 1
    # With the mixed anchor on a deseasonalised run: the windows also carry the Theta forecast
    # of the series with its seasonality left in (two more inputs), which the raw view's
    # members read (model.ForecastNet). False: runs saved before it existed.
    raw_view: bool = False

    @property
    def shortest(self) -> int:
        """The fewest points a series needs for the model to forecast it (never less than one
        season: the level and the seasonal-naive anchor read the window's last season)."""
        if not self.min_input:
            return self.input_size
        return min(self.input_size, max(self.min_input, self.season, 1))

    @property
    def seasonal(self) -> bool:
        """Whether windows carry a seasonal component (an extra input feature)."""
        return self.deseasonalize and self.season > 1 and self.anchor in ("level", "theta", "mixed")

    @property
    def theta(self) -> bool:
        """Whether windows carry the Theta forecast's start and drift (two extra input features)."""
        return self.anchor in ("theta", "mixed")

    @property
    def raw(self) -> bool:
        """Whether windows carry the raw view's Theta features (two extra input features)."""
        return self.raw_view and self.seasonal and self.anchor == "mixed"

    @property
    def level_size(self) -> int:
        return max(1, min(self.season, self.input_size))


def _autocorrelations(u: np.ndarray, lags) -> np.ndarray | None:
    """Sample autocorrelations of `u` at `lags` (each >= 1); None for a constant series."""
    x = u - u.mean()
    denom = float(x @ x)
    if denom <= 0:
        return None
    return np.array([float(x[k:] @ x[:-k]) / denom for k in lags])


#: One-sided 90% test of the autocorrelation at lag m, as in the M3 Theta method.
_SEASONALITY_Z = 1.645


def seasonal_indices(u: np.ndarray, season: int) -> np.ndarray:
    """Additive seasonal indices of `u` by phase (position mod `season`), zero-mean. Shape: (m,).

    Classical decomposition: the centred moving average of one season (2 x m for even m) is
    the trend; each index is the mean of u - trend over that phase. All zero when the series is
    shorter than three seasons or fails the seasonality test (|r_m| > 1.645 sqrt((1 + 2
    sum_{k<m} r_k^2) / n), r_k the autocorrelations), so non-seasonal series are left alone.
    """
    m = int(season)
    zero = np.zeros(max(m, 1))
    u = np.asarray(u, dtype=np.float64)
    ok = ~np.isnan(u)
    if m <= 1 or ok.sum() < 3 * m:
        return zero
    if not ok.all():  # fill gaps for the decomposition only
        idx = np.arange(len(u))
        u = np.interp(idx, idx[ok], u[ok])
    n = len(u)
    r = _autocorrelations(u, range(1, m + 1))
    if r is None:
        return zero
    if abs(r[-1]) <= _SEASONALITY_Z * np.sqrt((1 + 2 * np.sum(r[:-1] ** 2)) / n):
        return zero
    weights = np.ones(m + 1 - m % 2)
    if m % 2 == 0:
        weights[[0, -1]] = 0.5
    weights /= m
    trend = np.convolve(u, weights, mode="valid")  # centred: trend[j] belongs to u[j + half]
    half = len(weights) // 2
    detrended = u[half : half + len(trend)] - trend
    phase = np.arange(half, half + len(trend)) % m
    out = np.array([detrended[phase == p].mean() for p in range(m)])
    return out - out.mean()


#: Periods `detect_season` considers for integer time steps: quarters, days of a week, months,
#: hours of a day, weeks of a year.
SEASON_CANDIDATES = (4, 7, 12, 24, 52)


def detect_season(series: list, candidates=SEASON_CANDIDATES, min_share: float = 0.3) -> int:
    """The seasonal period of a collection of series without dates, or 1 (none).

    For each candidate m (those at least half the series are three seasons long for) the share
    of series whose first differences (of the log where positive) have a significantly positive
    autocorrelation at lag m (one-sided 95%: r_m > 1.645 / sqrt(n)); chance alone passes 5%.
    The smallest m within 3/4 of the best share wins if that share reaches `min_share`, so a
    multiple of the season (24 for monthly data) does not beat the season itself. On M3 without
    dates: monthly 12 (42% of the series), quarterly 4 (42%), yearly and other 1 (best 3% and 15%).
    """
    diffs = []
    for values in series:
        v = np.asarray(values, dtype=np.float64)
        v = v[~np.isnan(v)]
        if len(v) < 3:
            continue
        diffs.append(np.diff(np.log(v) if (v > 0).all() else v))
    shares = {}
    for m in candidates:
        usable = [d for d in diffs if len(d) >= 3 * m]
        if not usable or len(usable) * 2 < len(diffs):
            continue
        hits = 0
        for d in usable:
            r = _autocorrelations(d, (m,))
            hits += r is not None and r[0] > _SEASONALITY_Z / np.sqrt(len(d))
        shares[m] = hits / len(usable)
    if not shares or max(shares.values()) < min_share:
        return 1
    best = max(shares.values())
    return min(m for m, share in shares.items() if share >= 0.75 * best)


#: Smoothing parameters `theta_path` chooses from (by one-step squared error).
_ALPHAS = np.linspace(0.05, 1.0, 20)


def theta_path(d: np.ndarray) -> np.ndarray:
    """The Theta method's forecast from every point of a (deseasonalised) series. Shape: (n, 2).

    Row t is (start, drift) of the forecast made after observing d[0..t]: the h-step forecast
    is start + (h - 1) x drift. That is simple exponential smoothing (level l_t, smoothing
    parameter alpha chosen over the whole of `d` by one-step squared error) plus drift b_t / 2,
    b_t the least-squares slope of d[0..t]: start = l_t + b_t / 2 x (1/alpha - (1 - alpha)^(t+1)
    / alpha), the SES-with-drift form of Theta (Hyndman & Billah 2003). The slope uses the
    points up to t only; gaps are interpolated.
    """
    from scipy.signal import lfilter

    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    out = np.zeros((n, 2))
    ok = ~np.isnan(d)
    if not ok.any():
        return out
    if not ok.all():
        idx = np.arange(n)
        d = np.interp(idx, idx[ok], d[ok])
    best, levels, alpha = np.inf, d, 1.0
    for a in _ALPHAS:
        lv = lfilter([a], [1.0, a - 1.0], d, zi=[(1.0 - a) * d[0]])[0]  # l_0 = d_0
        sse = float(np.sum((d[1:] - lv[:-1]) ** 2))
        if sse < best - 1e-12:
            best, levels, alpha = sse, lv, a
    t = np.arange(n, dtype=np.float64)
    k = t + 1
    st, sd, stt, std_ = np.cumsum(t), np.cumsum(d), np.cumsum(t * t), np.cumsum(t * d)
    var = stt - st * st / k
    slope = np.where(var > 0, (std_ - st * sd / k) / np.where(var > 0, var, 1.0), 0.0)
    drift = slope / 2
    out[:, 0] = levels + drift * (1.0 / alpha - (1.0 - alpha) ** k / alpha)
    out[:, 1] = drift
    return out


def seasonal_component(indices: np.ndarray, start: int, length: int) -> np.ndarray:
    """The indices laid over positions start .. start + length - 1 of their series. (length,)"""
    m = len(indices)
    return np.asarray(indices, dtype=np.float64)[(start + np.arange(length)) % m]


def anchor_values(u, level, spec: WindowSpec, seasonal_future=None, theta=None):
    """What the network's outputs are offsets from, per horizon step. Shape: (B, H).

    "level": the window's level at every step, plus the seasonal component of the target
    steps `seasonal_future` (B, H) when the windows are deseasonalised. "theta" (and "mixed"):
    the Theta forecast from `theta` (B, 2) = (start, drift), `theta_path`'s row at the window's
    last point, plus the seasonal component likewise. "seasonal_naive": the
    value one season before each target step (the last value when the window is shorter than a season), so an all-zero
    output is the seasonal-naive forecast, a strong start when data are few.
    """
    import torch

    B, L = u.shape
    H, m = spec.horizon, spec.season
    if spec.anchor in ("level", "theta", "mixed"):
        if spec.theta:
            steps = torch.arange(H, device=u.device, dtype=theta.dtype)
            base = theta[:, :1] + theta[:, 1:] * steps
        else:
            base = level[:, None].expand(B, H)
        return base + seasonal_future if seasonal_future is not None else base
    if spec.anchor != "seasonal_naive":
        raise ValueError(f"unknown anchor {spec.anchor!r}")
    steps = torch.arange(H, device=u.device)
    index = L - m + steps % m if 1 <= m <= L else torch.full((H,), L - 1, device=u.device)
    base = u[:, index]
    return torch.where(torch.isnan(base), level[:, None].expand(B, H), base)


def window_features(u, calendar=None, covariates=None, level_size: int = 1, seasonal=None, theta=None,
                    raw_theta=None):
    """Normalised model inputs for a batch of windows.

    Args:
        u: (B, L) scaled values, NaN where missing (torch tensor).
        calendar: (B, L, k) calendar features or None.
        covariates: (B, L, C) scaled covariates or None.
        seasonal: (B, L) seasonal component of u, removed before the level, or None.
        theta: (B, 2) the Theta forecast's (start, drift) at the window's end, or None.
        raw_theta: (B, 2) the same of the series with its seasonality left in, or None.
    Returns:
        x: (L, B, F) inputs: value minus seasonal component and level (0 where missing),
            missing flag, [seasonal component], [Theta start minus level, drift x L, the same
            at every step], [the same of raw_theta], calendar, covariates.
        level: (B,) the level that was subtracted.
    """
    import torch

    if seasonal is not None:
        u = u - seasonal.to(u.dtype)
    missing = torch.isnan(u)
    tail = u[:, -level_size:]
    tail_ok = ~torch.isnan(tail)
    level = torch.where(tail_ok, tail, torch.zeros_like(tail)).sum(1) / tail_ok.sum(1).clamp(min=1)
    # No value in the last season: fall back to the whole window, then to 0.
    all_ok = ~missing
    whole = torch.where(all_ok, u, torch.zeros_like(u)).sum(1) / all_ok.sum(1).clamp(min=1)
    level = torch.where(tail_ok.any(1), level, whole)
    centred = torch.where(missing, torch.zeros_like(u), u - level[:, None])
    parts = [centred[..., None], missing.to(u.dtype)[..., None]]  # (B, L, 1) each
    if seasonal is not None:
        parts.append(seasonal.to(u.dtype)[..., None])
    if theta is not None:
        L = u.shape[1]
        for t in (theta, raw_theta):
            if t is None:
                continue
            t = t.to(u.dtype)
            summary = torch.stack([t[:, 0] - level, t[:, 1] * L], dim=1)  # (B, 2)
            parts.append(summary[:, None, :].expand(-1, L, -1))
    if calendar is not None and calendar.shape[-1]:
        parts.append(calendar.to(u.dtype))
    if covariates is not None and covariates.shape[-1]:
        parts.append(covariates.to(u.dtype))
    x = torch.cat(parts, dim=-1)  # (B, L, F)
    return x.transpose(0, 1).contiguous(), level  # (L, B, F), (B,)


def history_window(s, end: int, scaler: Scaler, spec: WindowSpec, freq) -> dict:
    """What the network reads to forecast series `s` from point `end` on, from the points before
    it only: u (L,) scaled values, seasonal (L + H,) or None, theta and raw_theta (2,) or None, calendar
    (L, C), covariates (L, K) or None, and the series' scale. A history shorter than the window
    (at least `spec.shortest` points) is padded in front: missing values, zero features."""
    from rnnsuite.plugins.forecast.data import calendar_features

    L, H = spec.input_size, spec.horizon
    scale = scaler.scale_for(s)
    u = scaler.forward(s.values[:end], scale)
    seasonal = seasonal_component(seasonal_indices(u, spec.season), 0, end + H) if spec.seasonal else None
    theta = theta_path(u - seasonal[:end] if seasonal is not None else u)[-1] if spec.theta else None
    raw_theta = theta_path(u)[-1] if spec.raw else None
    pad = max(0, L - end)
    start = max(0, end - L)
    calendar = calendar_features(s.time[start:end], freq)
    covariates = _standardise(s.covariates[:end])[start:] if s.covariates is not None else None
    return {"u": _pad_front(u[start:], pad, np.nan), "scale": scale,
            "seasonal": _pad_front(seasonal[start:], pad, 0.0) if seasonal is not None else None,
            "theta": theta, "raw_theta": raw_theta,
            "calendar": _pad_front(calendar, pad, 0.0),
            "covariates": _pad_front(covariates, pad, 0.0) if covariates is not None else None}


def _pad_front(a: np.ndarray, count: int, fill: float) -> np.ndarray:
    """`a` with `count` rows of `fill` before its first."""
    if count <= 0:
        return a
    return np.concatenate([np.full((count, *np.shape(a)[1:]), fill), a])


def stacked_inputs(windows: list, spec: WindowSpec, dtype, device=None):
    """(x, base) of a batch of history_window results: the network's input features and the
    anchor its outputs are added to. Shapes: x (L, B, F), base (B, H)."""
    import torch

    def stack(key):
        if windows[0][key] is None:
            return None
        return torch.tensor(np.stack([w[key] for w in windows]), dtype=dtype, device=device)

    L = spec.input_size
    u, sw, theta = stack("u"), stack("seasonal"), stack("theta")
    x, level = window_features(u, stack("calendar"), stack("covariates"), spec.level_size,
                               None if sw is None else sw[:, :L], theta, stack("raw_theta"))
    return x, anchor_values(u, level, spec, None if sw is None else sw[:, L:], theta)


class TrainingWindows:
    """All (input, target) windows of a set of series, as views into one buffer.

    `ends[id]` is where each series' training part ends (validation points after it are never
    targets). A window needs its whole input inside the training part and at least one target
    point in it; target points past the end are NaN and masked out of the loss. A training part
    too short for one whole window (but longer than `spec.shortest`) is padded in front, as
    `history_window` pads a short history, so such series train on windows like those they
    are forecast from; one with fewer whole windows than `spec.pad_below` is padded too, so it
    also trains on windows that start before it.
    """

    def __init__(self, data: ForecastData, scaler: Scaler, spec: WindowSpec, ends: dict,
                 history_limit: int | None = None):
        import torch

        L, H = spec.input_size, spec.horizon
        self.spec = spec
        values, seas, thetas, raws, cal, cov, starts, owner = [], [], [], [], [], [], [], []
        offset = 0
        for i, s in enumerate(data.series):
            end = ends.get(s.id, len(s))
            u = scaler.forward(s.values[:end], scaler.scale_for(s))
            n = len(u)
            # missing points in front of a series with fewer whole windows than spec.pad_below
            # (none at all when n <= L)
            pad = L - spec.shortest if spec.shortest < n and n - L < spec.pad_below else 0
            values.append(np.concatenate([np.full(pad, np.nan), u, np.full(H, np.nan)]))
            component = None
            if spec.seasonal:  # indices from the training part only, laid over its targets too
                component = seasonal_component(seasonal_indices(u, spec.season), 0, n + H)
                seas.append(_pad_front(component, pad, 0.0))
            if spec.theta:  # the forecast from each point, from the points up to it
                path = theta_path(u - component[:n] if component is not None else u)
                thetas.append(np.concatenate([np.zeros((pad, 2)), path, np.zeros((H, 2))]))
            if spec.raw:  # the same of the series with its seasonality left in
                raws.append(np.concatenate([np.zeros((pad, 2)), theta_path(u), np.zeros((H, 2))]))
            c = calendar_features(s.time[:end], data.freq) if n else np.zeros((0, 0))
            cal.append(np.concatenate([np.zeros((pad, c.shape[1])), c, np.zeros((H, c.shape[1]))]) if n else c)
            if s.covariates is not None:
                z = _standardise(s.covariates[:end])
                cov.append(np.concatenate([np.zeros((pad, z.shape[1])), z, np.zeros((H, z.shape[1]))]))
            n += pad
            first = 0 if history_limit is None else max(0, n - L - history_limit)
            if n >= L + 1:
                starts.append(offset + np.arange(first, n - L))
                owner.append(np.full(n - L - first, i))
            offset += n + H
        self.values = torch.tensor(np.concatenate(values) if values else np.zeros(0), dtype=torch.float32)
        k = cal[0].shape[1] if cal else 0
        self.calendar = torch.tensor(np.concatenate(cal) if k else np.zeros((len(self.values), 0)), dtype=torch.float32)
        self.covariates = torch.tensor(np.concatenate(cov), dtype=torch.float32) if cov else None
        self.starts = torch.tensor(np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64), dtype=torch.long)
        #: index (into data.series) of the series each window belongs to
        self.series_of = torch.tensor(np.concatenate(owner) if owner else np.zeros(0, dtype=np.int64), dtype=torch.long)
        self.seasonal = torch.tensor(np.concatenate(seas), dtype=torch.float32) if seas else None
        self.theta = torch.tensor(np.concatenate(thetas), dtype=torch.float32) if thetas else None
        self.raw_theta = torch.tensor(np.concatenate(raws), dtype=torch.float32) if raws else None
        # (num_positions, L + H) view, no copy
        self._value_windows = self.values.unfold(0, L + H, 1) if len(self.values) >= L + H else self.values[:0, None]
        self._cal_windows = self.calendar.unfold(0, L, 1) if len(self.values) >= L else None  # (N, k, L)
        # (no window at all when the buffer is shorter than one: the task then says so)
        self._cov_windows = (self.covariates.unfold(0, L, 1)
                             if self.covariates is not None and len(self.covariates) >= L else None)
        self._seas_windows = (self.seasonal.unfold(0, L + H, 1)
                              if self.seasonal is not None and len(self.seasonal) >= L + H else None)

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, index):
        """The windows starting at `self.starts[index]`: dict of x (L,B,F), target (B,H), level (B,)."""
        L = self.spec.input_size
        start = self.starts[index]
        w = self._value_windows[start]  # (B, L + H), gathered: the only copy
        cal = self._cal_windows[start].transpose(1, 2) if self._cal_windows is not None else None
        cov = self._cov_windows[start].transpose(1, 2) if self._cov_windows is not None else None
        sw = self._seas_windows[start] if self._seas_windows is not None else None  # (B, L + H)
        theta = self.theta[start + L - 1] if self.theta is not None else None  # (B, 2) at the last input
        raw_theta = self.raw_theta[start + L - 1] if self.raw_theta is not None else None
        x, level = window_features(w[:, :L], cal, cov, self.spec.level_size,
                                   None if sw is None else sw[:, :L], theta, raw_theta)
        base = anchor_values(w[:, :L], level, self.spec, None if sw is None else sw[:, L:], theta)
        return {"x": x, "target": w[:, L:] - base}

    def sampling_weights(self):
        """Per-window weights that give every series the same total weight. Shape: (N,)."""
        import torch

        counts = torch.bincount(self.series_of).to(torch.float64)
        return 1.0 / counts[self.series_of]


def _standardise(cov: np.ndarray) -> np.ndarray:
    mean = np.nanmean(cov, axis=0) if len(cov) else 0.0
    std = np.nanstd(cov, axis=0) if len(cov) else 1.0
    std = np.where(std > 0, std, 1.0)
    return np.nan_to_num((cov - mean) / std)
