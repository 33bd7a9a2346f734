"""`rnnsuite export RUN --format onnx`: a trained run's network as an ONNX graph, checked
against torch with onnxruntime before it is written.

What goes into the graph is the Task's choice (`Task.export_graph`, see `ExportGraph`): the
network between the features and the decoder. Feature extraction, scaling and decoding stay
outside, in the domain's own code, as each plugin's README shows. Needs the `onnx` extra.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from rnnsuite.core.domain import ExportGraph
from rnnsuite.core.errors import UserError

__all__ = ["export_run", "step_graph", "TOLERANCE"]

#: Largest absolute difference between onnxruntime's and torch's outputs that passes the check.
TOLERANCE = 1e-4
#: ONNX operator set written (onnxruntime 1.18 and later run it).
OPSET = 17
_MAX_STATE_BYTES = 5_000_000   # task state larger than this stays out of the file's metadata


def onnx_modules():
    """(onnx, onnxruntime), imported on first use; missing, a one-line error naming the extra."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise UserError("export needs onnx and onnxruntime: pip install 'rnnsuite[onnx]'") from None
    return onnx, onnxruntime


class _StepModule(torch.nn.Module):
    """A SequenceModel with its recurrent state as explicit inputs and outputs."""

    def __init__(self, model, sampler=None):
        super().__init__()
        self.model, self.sampler = model, sampler

    def forward(self, x, *rest):
        states = rest[:self.model.rnn.num_states]
        out, new = self.model(x, tuple(states))
        if self.sampler is not None:
            out = self.sampler(out, *rest[len(states):])
        return (out, *new)


def step_graph(model, x: torch.Tensor, input_name: str, output_name: str, doc: str,
               check_x: torch.Tensor | None = None, sampler=None, extra: dict | None = None,
               extra_axes: dict | None = None) -> ExportGraph:
    """The ExportGraph of a `SequenceModel` run step by step: inputs `input_name` (T, B, ...)
    and the state (h0, and c0 for an LSTM: (layers x directions, B, H)), outputs
    `output_name` (T, B, ...) and the next state (h1, c1). T and B are dynamic when the cells
    run on torch's fused kernels; otherwise (a plugin's cell, unrolled by the exporter) T is
    fixed at x's length, and the example should have T = 1.

    `sampler(out, *extra_inputs)`, when given, maps the model's output to what the graph
    returns, with `extra` (name -> example tensor, (T, B, ...)) as more inputs after the state."""
    rnn = model.rnn
    names = ["h0", "c0"][:rnn.num_states]
    outputs = ["h1", "c1"][:rnn.num_states]
    time_axis = {0: "steps"} if rnn.backend == "fused" else {}

    def state_for(batch):
        return {n: s for n, s in zip(names, model.init_hidden(batch))}

    extra = extra or {}
    inputs = {input_name: x, **state_for(x.shape[1]), **extra}
    check = None
    if check_x is not None:
        batch = check_x.shape[1]
        check = {input_name: check_x, **{n: torch.randn_like(s) * 0.5 for n, s in state_for(batch).items()}}
        for name, value in extra.items():
            shape = (check_x.shape[0], batch, *value.shape[2:]) if value.dim() >= 2 else value.shape
            check[name] = torch.rand(shape, dtype=value.dtype) if value.is_floating_point() else value
    dynamic = {input_name: {**time_axis, 1: "batch"}, output_name: {**time_axis, 1: "batch"}}
    dynamic.update({n: {1: "batch"} for n in names + outputs})
    for name, axes in (extra_axes or {}).items():
        dynamic[name] = axes
    return ExportGraph(_StepModule(model, sampler), inputs, (output_name, *outputs), dynamic, check, doc)


def _run_domain(path: Path):
    from rnnsuite.core import run_folder
    from rnnsuite.core.plugins import domain_named

    saved = run_folder.read_run_config(path)
    return domain_named(saved["domain"]), saved


def _as_tuple(out) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _max_difference(session, graph: ExportGraph, inputs: dict) -> float:
    with torch.no_grad():
        expected = _as_tuple(graph.module(*inputs.values()))
    got = session.run(list(graph.outputs), {k: v.numpy() for k, v in inputs.items()})
    if len(got) != len(expected):
        raise UserError(f"export: the graph returns {len(got)} outputs, the model {len(expected)}")
    worst = 0.0
    for name, g, e in zip(graph.outputs, got, expected):
        e = e.detach().float()
        g = torch.from_numpy(g).float()
        if tuple(g.shape) != tuple(e.shape):
            raise UserError(f"export: output {name} has shape {tuple(g.shape)} in onnxruntime, "
                            f"{tuple(e.shape)} in torch (a dynamic axis was fixed)")
        if e.numel():
            worst = max(worst, float((g - e).abs().max()))
    return worst


def export_run(run, fmt: str = "onnx", out=None) -> dict:
    """Export RUN's network to `out` (default RUN/model.onnx) and check it with onnxruntime on
    the Task's example inputs and on a second set of other batch and sequence sizes. The file
    is written only when both agree with torch within TOLERANCE. Returns a summary dict."""
    if fmt != "onnx":
        raise UserError(f"--format {fmt!r}: the one export format is onnx")
    path = Path(run)
    if not path.is_dir():
        raise UserError(f"{path}: run folder not found" if not path.exists() else f"{path}: not a run folder")
    domain, saved = _run_domain(path)
    onnx, ort = onnx_modules()
    from rnnsuite.core.run_lifecycle import load_run

    loaded = load_run(path, domain, device="cpu")
    model = loaded.model.float().eval()
    try:
        graph = loaded.task.export_graph(model)
    except NotImplementedError:
        raise UserError(f"the {domain.name} domain cannot export its model (its Task has no export_graph)") from None
    graph.module.eval()
    out = Path(out) if out else path / "model.onnx"
    if out.exists() and out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file name such as model.onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph.module, tuple(graph.inputs.values()), str(tmp), dynamo=False,
                              input_names=list(graph.inputs), output_names=list(graph.outputs),
                              dynamic_axes=graph.dynamic, opset_version=OPSET)
        proto = onnx.load(str(tmp))
        meta = {"rnnsuite.domain": domain.name, "rnnsuite.run": str(path.resolve()),
                "rnnsuite.doc": graph.doc,
                "rnnsuite.inputs": json.dumps(_shapes(graph.inputs, graph.dynamic)),
                "rnnsuite.config": json.dumps(loaded.config)}
        state = json.dumps(saved.get("task_state", {}))
        if len(state) <= _MAX_STATE_BYTES:
            meta["rnnsuite.task_state"] = state
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        checked = [graph.inputs] + ([graph.check] if graph.check else [])
        diff = max(_max_difference(session, graph, inputs) for inputs in checked)
        if not diff <= TOLERANCE:
            raise UserError(f"export: onnxruntime differs from torch by {diff:.3g} (> {TOLERANCE:g}); "
                            "nothing written")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"path": str(out), "format": "onnx", "domain": domain.name, "opset": OPSET,
            "inputs": _shapes(graph.inputs, graph.dynamic),
            "outputs": {name: graph.dynamic.get(name, {}) for name in graph.outputs},
            "checked": [_shapes(inputs, {}) for inputs in checked],
            "max_abs_diff": diff, "bytes": out.stat().st_size}


def _shapes(inputs: dict, dynamic: dict) -> dict:
    """{"feats": ["batch", "frames", 80]}: each input's shape, dynamic axes by name."""
    return {name: [dynamic.get(name, {}).get(i, n) for i, n in enumerate(value.shape)]
            for name, value in inputs.items()}
