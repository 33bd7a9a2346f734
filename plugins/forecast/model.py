"""The global forecasting network: recurrent encoder, direct multi-step probabilistic head.

::

    x (L, B, F) --RecurrentStack(any cell)--> last output (B, D*Hid) --+
    x centred values (B, L) -------------------- skip (optional) ------+--> MLP --> (B, H, K)

K = 5 for the quantile head (levels 2.5, 10, 50, 90, 97.5 %) or 2 for the Gaussian head
(mean, scale). The quantile head is monotone by construction: the median plus cumulative
softplus widths, so lo95 <= lo80 <= median <= hi80 <= hi95 always holds. An ensemble of
`members` independent networks is trained jointly (the loss is their sum) and combined by the
mean or the median of each column (`combine`; both keep the order).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from rnnsuite.core import RecurrentStack
from torch import nn

__all__ = ["QUANTILES", "HEAD_COLUMNS", "ForecastNet", "ColumnsGraph", "forecast_loss", "to_columns", "calibrate",
           "stretch_bands", "blend_weight", "group_weights", "choose_blend", "NARROW_MIN_POINTS"]

QUANTILES = (0.025, 0.1, 0.5, 0.9, 0.975)
HEAD_COLUMNS = ("lo95", "lo80", "mean", "hi80", "hi95")  # the quantile head's order
_Z80, _Z95 = 1.2815515655446004, 1.959963984540054


class _Member(nn.Module):
    def __init__(self, cell, input_size, hidden_size, num_layers, dropout, backend, input_len,
                 horizon, outputs, skip):
        super().__init__()
        self.encoder = RecurrentStack(cell, input_size, hidden_size, num_layers=num_layers,
                                      dropout=dropout if num_layers > 1 else 0.0, backend=backend)
        self.skip = skip
        head_in = hidden_size + (input_len if skip else 0)
        self.head = nn.Sequential(nn.Linear(head_in, hidden_size), nn.ReLU(),
                                  nn.Linear(hidden_size, horizon * outputs))
        self.horizon, self.outputs, self.input_len = horizon, outputs, input_len

    def forward(self, x):  # x: (L, B, F); the member reads its last input_len steps
        x = x[-self.input_len:]
        out, _ = self.encoder(x)  # (L, B, Hid)
        feats = out[-1]  # (B, Hid)
        if self.skip:
            feats = torch.cat([feats, x[:, :, 0].transpose(0, 1)], dim=1)  # + (B, L)
        return self.head(feats).view(-1, self.horizon, self.outputs)  # (B, H, K)


class ForecastNet(nn.Module):
    """`members` networks over the same inputs. forward(x (L,B,F)) -> raw (E, B, H, K).

    With `level_frame` (the index of the Theta features in x, see windows.window_features; the
    "mixed" anchor) every other member (the 2nd, 4th, ...) predicts its median as an offset
    from the window's level while the others and the targets use the Theta forecast: its
    output is moved by the level's distance from that forecast (`level_offset`, which the
    inputs carry), so all members answer in the same frame and the ensemble mixes two anchors'
    errors. The level group does not read the Theta features (`level_inputs`) and may read a
    shorter span (`level_input_len`): the groups are then different models, whose errors differ
    more. Such a model also holds `group_blend` (g, w_theta, w_level): with g = 1 its point
    forecast blends each group towards its own anchor instead of the whole ensemble towards the
    Theta forecast (see `to_columns`); `choose_blend` decides on the hold-out.

    With `raw_members` (and `raw_frame`, the index of the raw view's Theta features in x; a
    deseasonalised run's "mixed" anchor) that many more members, after the first `members`,
    read the series with its seasonality left in: their value input is the window's values
    plus the seasonal component (which they do not read as a feature), their anchor the Theta
    forecast of the raw series (even members) or the window's level (odd ones), neither plus
    the seasonal indices; their outputs are moved into the main frame like the level group's,
    so they learn the seasonality themselves, from the window. Their Theta group may read a
    shorter span than the main view's (`raw_input_len`): the views then differ in their input
    length too (as N-BEATS's ensemble differs over lookbacks). M3 monthly with both views:
    13.03 / 12.98 against 13.11 / 13.15 with the main view alone (seeds 0 / 1; bench/RESULTS.md).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int,
                 input_len: int, horizon: int, loss: str = "quantile", dropout: float = 0.0,
                 backend: str = "auto", members: int = 1, skip: bool = True, combine: str = "mean",
                 level_frame: int | None = None, level_input_len: int | None = None,
                 raw_members: int = 0, raw_frame: int | None = None, season: int = 1,
                 raw_input_len: int | None = None):
        super().__init__()
        self.level_frame, self.input_len = level_frame, input_len
        # the raw view (see the class docstring): members from index main_members on
        self.raw_frame = raw_frame if raw_members and level_frame is not None else None
        self.main_members = members
        self.season = int(season)
        members += raw_members if self.raw_frame is not None else 0
        if loss not in ("quantile", "gaussian"):
            raise ValueError(f"loss must be 'quantile' or 'gaussian', not {loss!r}")
        if combine not in ("mean", "median"):
            raise ValueError(f"combine must be 'mean' or 'median', not {combine!r}")
        self.loss, self.combine = loss, combine
        outputs = 5 if loss == "quantile" else 2
        # a mixed ensemble's level group (odd members) may read only the window's last
        # `level_input_len` steps (ForecastTask: model.level_window), the raw view's Theta group
        # its last `raw_input_len` (model.raw_window)
        def span(i: int) -> int:
            if level_frame is not None and self.local(i) % 2:
                return level_input_len or input_len
            return (raw_input_len or input_len) if i >= self.main_members else input_len

        spans = [span(i) for i in range(members)]
        self.members = nn.ModuleList(
            _Member(cell, input_size, hidden_size, num_layers, dropout, backend, span, horizon, outputs, skip)
            for span in spans
        )
        # Widths of the 80% and 95% bands relative to the trained head, set from the validation
        # windows (conformal calibration, `calibrate`); a buffer, so it is saved with the weights.
        # (c80, c95) below the median, then above it: each side its own (`calibrate`).
        self.register_buffer("interval_scale", torch.ones(4))
        # How far the point forecast moves from the anchor (seasonal naive, or level and
        # seasonality) towards the network's: 1 = the network, 0 = the anchor alone. Chosen on
        # the validation windows when data.blend is on (`blend_weight`); saved with the weights.
        self.register_buffer("anchor_weight", torch.ones(1))
        # How far the point forecast moves towards each series' AutoETS forecast (data.ets, see
        # ets.py): 0 = not at all; chosen on the validation windows, applied by forecaster.forecast.
        self.register_buffer("ets_weight", torch.zeros(1))
        # AutoETS's share of the band edges at predict (data.ets; ets.BANDS_SHARE): 0 = none.
        self.register_buffer("ets_bands", torch.zeros(1))
        if self.mixed:  # (g, w_theta, w_level); g = 0: the single anchor weight above
            self.register_buffer("group_blend", torch.tensor([0.0, 1.0, 1.0]))
            # Whether the level group reads the Theta features (start and drift): 0, so the two
            # groups are different models whose errors differ more (bench/RESULTS.md, forecast).
            # Runs saved before the buffer existed load 1: their level members read them, as
            # they were trained.
            self.register_buffer("level_reads_theta", torch.zeros(1))
        if self.raw_frame is not None:
            # The raw view's share of the point forecast and bands (the main view's: 1 - it):
            # 0.5, or 0 where the hold-out shows the main view alone better (VIEW_SHARES).
            self.register_buffer("view_share", torch.tensor([0.5]))

    @property
    def views(self) -> int:
        """How many views the members form (2 with the raw view: the first main_members
        members, then as many more), each combined on its own (`to_columns`)."""
        return 1 if self.raw_frame is None else 2

    def local(self, i: int) -> int:
        """Member i's place within its view: its group is local(i) % 2 (0 Theta, 1 level)."""
        return i - self.main_members if i >= self.main_members else i

    @property
    def mixed(self) -> bool:
        """Whether the members form a Theta group and a level group (the mixed anchor)."""
        return self.level_frame is not None and len(self.members) >= 2

    def level_offset(self, x):
        """Where the window's level (plus seasonality) lies in the Theta frame at each horizon
        step: level - Theta forecast = -(start - level) - drift x h. (B, H); None unless mixed."""
        if not self.mixed:
            return None
        return -self._above_level(x, self.level_frame)

    def _above_level(self, x, frame: int):
        """The forecast whose Theta features (start - level, drift x L) sit at `frame` of x, as
        its distance above the window's level at each horizon step. (B, H)"""
        f = x[-1, :, frame : frame + 2]
        steps = torch.arange(self.members[0].horizon, device=x.device, dtype=x.dtype)
        return f[:, :1] + f[:, 1:] / self.input_len * steps

    def seasonal_future(self, x):
        """The seasonal component over the horizon (B, H): the window's last season's, repeated
        (the indices are periodic; the seasonal feature precedes the Theta features)."""
        m, L, H = self.season, x.shape[0], self.members[0].horizon
        index = [L - m + h % m for h in range(H)]
        return x[index, :, self.level_frame - 1].transpose(0, 1)

    def raw_offset(self, x, seasonal):
        """Where the raw series' Theta forecast lies in the main frame at each horizon step:
        (raw start - start) + (raw drift - drift) x h - the seasonal component `seasonal`
        (seasonal_future). (B, H)"""
        return self._above_level(x, self.raw_frame) - self._above_level(x, self.level_frame) - seasonal

    def _view_inputs(self, x, raw: bool, level: bool):
        """What a member reads: the level group without the Theta features (level_inputs); the
        main view without the raw view's features; the raw view the values with their seasonal
        component added back, without it or the main view's Theta features."""
        if level:
            x = self.level_inputs(x)
        if self.raw_frame is None:
            return x
        f, k, r = x.shape[-1], self.level_frame, self.raw_frame
        if not raw:
            return x * torch.cat([x.new_ones(r), x.new_zeros(2), x.new_ones(f - r - 2)])
        value = x[..., 0] + x[..., k - 1] * (1 - x[..., 1])   # the seasonal component back, where present
        keep = torch.cat([x.new_zeros(1), x.new_ones(k - 2), x.new_zeros(3),
                          x.new_ones(2) * (0.0 if level else 1.0), x.new_ones(f - r - 2)])
        return torch.cat([value[..., None], (x * keep)[..., 1:]], dim=-1)

    def columns(self, x, raw=None):
        """The forecast columns (B, H, 5) of input windows x (L, B, F) with everything the model
        holds applied: member combination, anchor blend, interval calibration. `raw`: the
        model's outputs on x, if already computed."""
        return to_columns(self(x) if raw is None else raw, self.loss, self.interval_scale, self.combine,
                          self.anchor_weight, self.level_offset(x), getattr(self, "group_blend", None), self.views,
                          getattr(self, "view_share", None))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Runs saved before `anchor_weight`, `ets_weight`, `ets_bands` or `group_blend` existed
        # forecast exactly as they did.
        state_dict.setdefault(prefix + "anchor_weight", torch.ones(1))
        state_dict.setdefault(prefix + "ets_weight", torch.zeros(1))
        state_dict.setdefault(prefix + "ets_bands", torch.zeros(1))
        scale = state_dict.get(prefix + "interval_scale")
        if scale is not None and scale.numel() == 2:  # one stretch for both sides
            state_dict[prefix + "interval_scale"] = scale.repeat(2)
        if self.mixed:
            state_dict.setdefault(prefix + "group_blend", torch.tensor([0.0, 1.0, 1.0]))
            state_dict.setdefault(prefix + "level_reads_theta", torch.ones(1))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def level_inputs(self, x):
        """The level group's inputs: x with the Theta features multiplied by level_reads_theta."""
        f, k = x.shape[-1], self.level_frame
        keep = torch.cat([x.new_ones(k), self.level_reads_theta.to(x.dtype).expand(2), x.new_ones(f - k - 2)])
        return x * keep

    def share(self, k: int, n: int) -> list:
        """The members process k of n trains (ForecastTask.model_parallel): shares of about equal
        cost, a member's cost being the steps it reads (the level group may read half the
        window), each member to the least loaded process in turn, longest first."""
        if n == 1:
            return list(range(len(self.members)))
        return list(_shares(tuple(m.input_len for m in self.members), n)[k])

    def forward(self, x, part: tuple[int, int] = (0, 1)):
        """Raw outputs (E, B, H, K) of every member, or with `part` = (k, n) of process k's share
        of them only (a training process's, see `share` and ForecastTask.model_parallel)."""
        chosen = self.share(*part)
        if not self.mixed:
            return torch.stack([self.members[i](x) for i in chosen])  # (E, B, H, K)
        kinds = [(i >= self.main_members, self.local(i) % 2 == 1) for i in chosen]   # (raw view, level group)
        inputs = {kind: self._view_inputs(x, *kind) for kind in set(kinds)}
        raw = torch.stack([self.members[i](inputs[kind]) for i, kind in zip(chosen, kinds)])
        level = self.level_offset(x)  # (B, H)
        shifts = {(False, False): torch.zeros_like(level), (False, True): level}
        if self.raw_frame is not None:
            seasonal = self.seasonal_future(x)
            shifts[(True, False)] = self.raw_offset(x, seasonal)
            shifts[(True, True)] = level - seasonal
        shift = torch.stack([shifts[kind] for kind in kinds])  # (E, B, H)
        median = raw[..., 0] + shift.to(raw.dtype)
        return torch.cat([median[..., None], raw[..., 1:]], dim=-1)


@functools.lru_cache(maxsize=None)
def _shares(spans: tuple, n: int) -> list:
    """Member indices per process (ForecastNet.share), computed once per set of spans."""
    load, owner = [0] * n, {}
    for i in sorted(range(len(spans)), key=lambda i: (-spans[i], i)):
        rank = min(range(n), key=lambda r: (load[r], r))
        owner[i], load[rank] = rank, load[rank] + spans[i]
    return [[i for i in range(len(spans)) if owner[i] == k] for k in range(n)]


def _quantiles(raw):
    """Monotone quantiles from raw outputs (..., 5) -> (..., 5) in QUANTILES order."""
    med = raw[..., 0]
    up80 = F.softplus(raw[..., 1])
    up95 = up80 + F.softplus(raw[..., 2])
    dn80 = F.softplus(raw[..., 3])
    dn95 = dn80 + F.softplus(raw[..., 4])
    return torch.stack([med - dn95, med - dn80, med, med + up80, med + up95], dim=-1)


def forecast_loss(raw, target, kind: str = "quantile"):
    """Mean pinball loss (quantile) or Gaussian negative log-likelihood, NaN targets masked.

    raw: (E, B, H, K); target: (B, H). Summed over ensemble members.
    """
    ok = ~torch.isnan(target)
    y = torch.where(ok, target, torch.zeros_like(target))[None]  # (1, B, H)
    if kind == "quantile":
        q = _quantiles(raw)  # (E, B, H, 5)
        levels = torch.tensor(QUANTILES, dtype=q.dtype, device=q.device)
        diff = y[..., None] - q
        per = torch.maximum(levels * diff, (levels - 1) * diff).sum(-1)  # (E, B, H)
    else:
        mu, sigma = raw[..., 0], F.softplus(raw[..., 1]) + 1e-3
        per = torch.log(sigma) + 0.5 * ((y - mu) / sigma) ** 2
    per = torch.where(ok[None], per, torch.zeros_like(per))
    return per.sum() / ok.sum().clamp(min=1) / 1.0


def _combine(q, combine: str):
    """(E, B, H, 5) -> (B, H, 5): the members' mean, or their median from 3 members on (the
    lower middle value of an even count, as torch.median's, taken from a sort so that the ONNX
    export has it too)."""
    return q.sort(0).values[(q.shape[0] - 1) // 2] if combine == "median" and q.shape[0] > 2 else q.mean(0)


def to_columns(raw, kind: str = "quantile", interval_scale=None, combine: str = "mean",
               anchor_weight=None, level_offset=None, group_blend=None, views: int = 1, view_share=None):
    """Ensemble forecast columns in normalised space, as offsets from the anchor: (B, H, 5) in
    HEAD_COLUMNS order.

    The members' columns are combined by their mean or (`combine="median"`) their median;
    either keeps the order of the columns. `anchor_weight` w moves every column by (w - 1) x the
    median, so the median becomes w x the network's and the bands keep their widths.
    `interval_scale` (c80, c95 below the median, c80, c95 above it; or c80, c95 for both sides,
    as runs saved before stop 39 hold) then stretches each band around the median; the order
    lo95 <= lo80 <= median <= hi80 <= hi95 is kept.

    `level_offset` (B, H) and `group_blend` (g, w_theta, w_level) are a mixed ForecastNet's (see
    there): the even members (Theta group) and the odd ones (level group) are also combined on
    their own, the Theta group moved towards 0 (its anchor) by w_theta, the level group towards
    `level_offset` (its anchor) by w_level, and the two averaged; the result is g x that + (1 - g)
    x the single-weight columns above (g is 0 or 1: no branch, so the export has both).

    `views` > 1 (a ForecastNet with the raw view): the members are that many equal runs of
    views, each combined on its own; the other views' mean gets `view_share` s of the columns
    (default: an equal share each), the first (main) view 1 - s. The anchor weight and the group
    blend apply to the main view only, whose anchor they lean on: the raw view's own anchor is
    the raw series' Theta forecast, with no seasonality.
    """
    if views > 1:
        n = raw.shape[0] // views
        main = to_columns(raw[:n], kind, None, combine, anchor_weight, level_offset, group_blend)
        others = torch.stack([to_columns(raw[v * n:(v + 1) * n], kind, None, combine) for v in range(1, views)]).mean(0)
        share = (views - 1) / views if view_share is None else view_share.to(main.dtype).reshape(())
        q = main + share * (others - main)
        return q if interval_scale is None else stretch_bands(q, *interval_scale.to(q.dtype))
    if kind == "quantile":
        q = _quantiles(raw)
    else:
        mu, sigma = raw[..., 0], F.softplus(raw[..., 1]) + 1e-3
        q = torch.stack([mu - _Z95 * sigma, mu - _Z80 * sigma, mu, mu + _Z80 * sigma,
                         mu + _Z95 * sigma], dim=-1)
    members = q
    q = _combine(members, combine)  # (E, B, H, 5) -> (B, H, 5)
    if anchor_weight is not None:
        q = q + (anchor_weight.to(q.dtype).reshape(()) - 1) * q[..., 2:3]
    if level_offset is not None and group_blend is not None and members.shape[0] >= 2:
        g, w_theta, w_level = group_blend.to(q.dtype)
        theta, level = _combine(members[0::2], combine), _combine(members[1::2], combine)
        off = level_offset.to(q.dtype)[..., None]
        theta = theta + (w_theta - 1) * theta[..., 2:3]
        level = level + (w_level - 1) * (level[..., 2:3] - off)
        q = q + g * ((theta + level) / 2 - q)
    if interval_scale is None:
        return q
    return stretch_bands(q, *interval_scale.to(q.dtype))


def stretch_bands(q, c80, c95, c80_high=None, c95_high=None):
    """Columns q (..., 5) in HEAD_COLUMNS order with the 80% band stretched around the median by
    c80 and the 95% band by c95 (scalars, or tensors broadcasting against q[..., 0]), above the
    median by c80_high and c95_high where given; the 95% band never ends inside the 80% one."""
    c80_high = c80 if c80_high is None else c80_high
    c95_high = c95 if c95_high is None else c95_high
    med = q[..., 2]
    lo80, hi80 = med - c80 * (med - q[..., 1]), med + c80_high * (q[..., 3] - med)
    lo95 = torch.minimum(med - c95 * (med - q[..., 0]), lo80)
    hi95 = torch.maximum(med + c95_high * (q[..., 4] - med), hi80)
    return torch.stack([lo95, lo80, med, hi80, hi95], dim=-1)


class ColumnsGraph(nn.Module):
    """ForecastNet -> the forecast columns exactly as the forecaster computes them (what
    `rnnsuite export` writes): x (L, B, F) -> (B, H, 5) in HEAD_COLUMNS order."""

    def __init__(self, model: ForecastNet):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.columns(x)


def blend_weight(median, base, actual, inverse, steps: int = 10) -> float:
    """The anchor weight w in {0, 1/steps, ..., 1} whose forecast base + w * median has the
    lowest sMAPE on `actual` (ties: the larger w).

    median, base: (B, H) network offsets and anchor in normalised space; actual: (B, H) on the
    original scale; inverse(point (B, H)) -> (B, H) maps normalised values back.
    """
    from rnnsuite.plugins.forecast.metrics import smape

    best_w, best = 1.0, float("inf")
    for k in range(steps, -1, -1):
        w = k / steps
        err = smape(actual, inverse(base + w * median))
        if err < best - 1e-9:
            best_w, best = w, err
    return best_w


#: The raw view's shares of the forecast the hold-out chooses from (ForecastNet.view_share):
#: none (the main view alone), or half.
VIEW_SHARES = (0.0, 0.5)

#: Hold-out points from which `calibrate` may also narrow the bands (see there).
NARROW_MIN_POINTS = 1000


def calibrate(columns, target, low: float | None = None, high: float = 10.0):
    """Band stretch factors (c80, c95 below the median, c80, c95 above it) that make the bands
    cover 80% and 95% of `target`, each side its share of the misses.

    columns: (B, H, 5) uncalibrated forecast columns; target: (B, H), NaN = missing. For each
    point below the median the ratio of its distance from the median to the band's half-width
    on that side is taken (0 for points above it); the lower side's c80 and c95 are the 0.90
    and 0.975 quantiles of those ratios (split conformal prediction, one tail at a time), and
    the upper side's likewise; all clamped to [low, high]. One stretch for both sides (the
    default until stop 39) made intermittent demand's bands useless: zeros below the median
    stretched the upper edge too (scaled pinball 0.41 against 0.20 each side on its own;
    bench/forecast_intermittent.py), while M3's figures hold either way (bench/RESULTS.md).
    By default `low` is 1 below NARROW_MIN_POINTS hold-out points: the hold-out also picked the
    best checkpoint, so it flatters the model, and narrowing on a few points made the bands too
    narrow (examples/sales.csv, 90 points: 80% band coverage 0.62 -> 0.46), so only widening is
    trusted. From 1,000 points on (the coverage estimate's standard error is then 1.3 points or
    less) the bands may also narrow, to half their width at most (M3 yearly's 80% bands covered
    84-85% of its test points before).
    """
    ok = ~torch.isnan(target)
    if low is None:
        low = 1.0 if int(ok.sum()) < NARROW_MIN_POINTS else 0.5
    y, med = target[ok], columns[..., 2][ok]
    out = []
    for below in (True, False):
        for lo, hi, level in ((1, 3, 0.80), (0, 4, 0.95)):
            if below:
                ratio = torch.where(y < med, (med - y) / (med - columns[..., lo][ok]).clamp(min=1e-6), 0.0)
            else:
                ratio = torch.where(y >= med, (y - med) / (columns[..., hi][ok] - med).clamp(min=1e-6), 0.0)
            tail = (1 + level) / 2  # half the misses on each side
            out.append(torch.quantile(ratio, tail).clamp(low, high) if ratio.numel() else torch.tensor(1.0))
    return torch.stack(out)


def group_weights(theta, level, offset, base, actual, inverse, steps: int = 10) -> tuple[float, float]:
    """The mixed anchor's two group weights (w_theta, w_level) on the grid {0, 1/steps, ...,
    1}^2 whose point forecast base + (w_theta x theta + offset + w_level x (level - offset)) / 2
    has the lowest sMAPE on `actual` (ties: the larger weights). theta, level: (B, H) the
    groups' medians, offset: the level's place (ForecastNet.level_offset), all in normalised
    space as offsets from `base`; `inverse` as for blend_weight."""
    from rnnsuite.plugins.forecast.metrics import smape

    best_w, best = (1.0, 1.0), float("inf")
    for i in range(steps, -1, -1):
        for j in range(steps, -1, -1):
            wt, wl = i / steps, j / steps
            err = smape(actual, inverse(base + (wt * theta + offset + wl * (level - offset)) / 2))
            if err < best - 1e-9:
                best_w, best = (wt, wl), err
    return best_w


def choose_blend(median, theta, level, offset, base, actual, inverse, folds: int = 2):
    """How a mixed ensemble's point forecast leans on its anchors, chosen on the hold-out:
    (g, w, w_theta, w_level) for ForecastNet's anchor_weight (w) and group_blend (g, w_theta,
    w_level).

    Two candidates: one weight for the whole ensemble's median (`blend_weight`, one parameter)
    or one per group (`group_weights`, two, and each group's own anchor). Each is scored by
    cross-validation over the hold-out's series (series i in fold i mod `folds`: the weights
    fitted on the other folds forecast it), and the per-group blend (g = 1) is taken only when
    its cross-validated sMAPE per series is lower by more than one standard error of the mean
    difference: on a small hold-out two weights fit its noise (on examples/sales.csv, 5 series,
    the per-group blend scored 9.68 against 8.08, and a plain comparison of the two
    cross-validated scores still chose it), on a large one they help (M3 yearly, 645 series:
    15.72 against 16.15). All weights are then fitted on the whole hold-out. `inverse(point, rows)` maps normalised (len(rows), H) values of those
    hold-out rows back to the original scale; the arrays are (B, H) as for `group_weights`.
    """
    from rnnsuite.plugins.forecast.metrics import smape

    B = len(actual)
    every = np.arange(B)
    w = blend_weight(median, base, actual, lambda p: inverse(p, every))
    w_theta, w_level = group_weights(theta, level, offset, base, actual, lambda p: inverse(p, every))
    if B < 2 * folds:
        return 0.0, w, w_theta, w_level
    single, grouped = np.zeros_like(actual, dtype=float), np.zeros_like(actual, dtype=float)
    for k in range(folds):
        test, fit = every[every % folds == k], every[every % folds != k]
        inv = lambda p, rows=fit: inverse(p, rows)  # noqa: E731
        wk = blend_weight(median[fit], base[fit], actual[fit], inv)
        single[test] = inverse(base[test] + wk * median[test], test)
        tk, lk = group_weights(theta[fit], level[fit], offset[fit], base[fit], actual[fit], inv)
        grouped[test] = inverse(base[test] + (tk * theta[test] + offset[test] + lk * (level[test] - offset[test])) / 2,
                                test)
    # per-series differences of the cross-validated sMAPE; the two weights must win by more
    # than one standard error of their mean (the one-standard-error rule: the simpler model
    # unless the evidence is clear)
    d = np.array([smape(actual[i], grouped[i]) - smape(actual[i], single[i]) for i in range(B)])
    d = d[np.isfinite(d)]
    better = len(d) >= 2 and d.mean() + d.std(ddof=1) / np.sqrt(len(d)) < 0
    return (1.0 if better else 0.0), w, w_theta, w_level
