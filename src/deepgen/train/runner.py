"""The one runner behind every training command (vae, flow, pixelcnn, gan).

A command supplies what is specific to it — an :class:`Experiment`: ``build`` (data, model and
the training task) and ``finish`` (evaluation, figures, the report's text) — and
:func:`run_experiment` does the rest, the same way for all of them:

1. device, CPU threads, and the torchrun process group (:class:`Distributed`);
2. the output folder: rank 0 holds its lock for the whole run (fresh-run / resume checks), and
   every process stops with the same one-line error when it cannot;
3. the seed, then ``build``; ``config.json`` (rank 0);
4. the :class:`Trainer` (schedule, logs, checkpoints, resume, NaN guard, bf16 autocast);
5. on rank 0, ``finish``, then the metrics envelope (updates, timing, device, threads,
   world size, torch), ``report.html`` (title, text, results table, figures, configuration),
   TensorBoard figures and ``metrics.json`` (strict JSON).

The other processes of a data-parallel run return ``{}`` after training.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from deepgen.errors import ConfigError, DeepgenError
from deepgen.fileio import write_json
from deepgen.report import HtmlReport
from deepgen.train.distributed import Distributed
from deepgen.train.lock import claim_out_dir
from deepgen.train.loop import Trainer, TrainerConfig, TrainResult, TrainTask, resolve_device
from deepgen.train.tensorboard import log_figures

# bf16 autocast on a CPU: measured by benchmarks/precision_compile.py, it speeds up convolutions
# (PixelCNN 2.05x) and slows the small MLPs (the VAE's update 0.77x), so it is allowed only where
# it pays
BF16_PAYS_ON_CPU = frozenset({"pixelcnn"})


@dataclass(frozen=True)
class Session:
    """What ``build`` and ``finish`` get: the run's settings, folder, device and process."""

    cfg: Any
    out: Path
    device: torch.device
    dist: Distributed
    resume: bool
    quiet: bool


@dataclass
class ReportFigure:
    """One figure of the report: a PNG, its caption, and the heading above it (None: it
    continues the previous section)."""

    path: Path
    caption: str
    heading: str | None = None


@dataclass
class Outcome:
    """What ``finish`` returns: the report's title and text, the command's own metrics (the
    runner adds the envelope), and the figures in report order."""

    title: str
    text: list[str]
    metrics: dict[str, Any]
    figures: list[ReportFigure] = field(default_factory=list)


class Experiment(Protocol):
    """The part of a training command that is specific to it."""

    kind: str  # "vae", "flow", ...: checkpoints say what wrote them

    def build(self, session: Session) -> tuple[TrainTask, dict[str, Any]]:
        """Data, model and task; returns the task and what the checkpoint must also match
        (e.g. the model's config)."""
        ...

    def finish(self, session: Session, task: Any, result: TrainResult) -> Outcome:
        """Evaluate the trained model and draw the figures (rank 0 only)."""
        ...


def check_precision(kind: str, precision: str, device: torch.device) -> None:
    """A one-line error for bf16 where it was measured not to pay (a CPU, except convolutions)."""
    if precision == "bf16" and device.type == "cpu" and kind not in BF16_PAYS_ON_CPU:
        raise ConfigError(
            f"--precision bf16 is refused on a CPU for {kind}: it was measured to pay there "
            "only for convolutions (benchmarks/precision_compile.py: PixelCNN 2.05x, the MLP "
            "VAE 0.77x); use it with pixelcnn or on CUDA"
        )


@contextlib.contextmanager
def _claimed(out: Path, resume: bool, dist: Distributed) -> Any:
    """Rank 0 holds the folder's lock; every process raises rank 0's error if it cannot."""
    with contextlib.ExitStack() as stack:
        error: DeepgenError | None = None
        if dist.is_main:
            try:
                stack.enter_context(claim_out_dir(out, resume))
            except DeepgenError as exc:
                error = exc
        error = dist.broadcast(error)
        if error is not None:
            raise error
        yield


def _reader(cfg: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A checkpoint's meta in today's form: run settings nested (checkpoints written before
    the model's config was nested hold them flat), and run and model settings added since then
    at their defaults (a checkpoint predating a setting was built as its default builds)."""

    def defaults_of(cls: type) -> dict[str, Any]:
        if not is_dataclass(cls):
            return {}
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    defaults = defaults_of(type(getattr(cfg, "model", None)))
    fixed = cfg.identity() if hasattr(cfg, "identity") else {}
    run_defaults = {k: v for k, v in defaults_of(type(cfg)).items() if k in fixed and k != "model"}

    def read(meta: dict[str, Any]) -> dict[str, Any]:
        run, model = meta.get("run"), meta.get("model")
        if isinstance(model, dict):
            meta = {**meta, "model": {**defaults, **model}}
        if isinstance(run, dict) and isinstance(run.get("model"), dict):
            settled = {**run_defaults, **run, "model": {**defaults, **run["model"]}}
            return {**meta, "run": settled}
        if not isinstance(run, dict) or "model" in run:
            return meta
        try:
            return {**meta, "run": type(cfg).from_saved(run).identity()}
        except (DeepgenError, TypeError):
            return meta

    return read


def run_experiment(
    experiment: Experiment,
    cfg: Any,
    out_dir: str | Path,
    resume: bool = False,
    quiet: bool = False,
    desc: str | None = None,
) -> dict[str, Any]:
    """Train (or resume) ``experiment`` with the run settings ``cfg`` (a frozen RunConfig
    dataclass with seed, device, threads, steps, batch_size, the schedule and precision)
    into ``out_dir``; returns the metrics written to ``metrics.json`` ({} on ranks > 0)."""
    t_start = time.perf_counter()
    out = Path(out_dir)
    device = resolve_device(cfg.device)
    precision = getattr(cfg, "precision", "fp32")
    check_precision(experiment.kind, precision, device)
    minutes = getattr(cfg, "minutes", None)
    if minutes is not None and not minutes > 0:
        raise ConfigError(f"--minutes must be > 0, got {minutes}")
    with Distributed.start(device) as dist, _claimed(out, resume, dist):
        device = dist.device(device)
        dist.check_batch(cfg.batch_size)
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        session = Session(cfg, out, device, dist, resume, quiet)
        task, fixed = experiment.build(session)
        if dist.is_main:
            write_json(out / "config.json", asdict(cfg))
        schedule = TrainerConfig(
            updates=cfg.steps,
            val_every=cfg.val_every,
            checkpoint_every=cfg.checkpoint_every,
            quiet=quiet,
            desc=desc or experiment.kind,
            tensorboard=getattr(cfg, "tensorboard", False),
            precision=precision,
            device_type=device.type,
            max_seconds=None if minutes is None else 60.0 * minutes,
        )
        meta = {"kind": experiment.kind, "run": cfg.identity(), **fixed}
        trainer = Trainer(task, schedule, out, meta=meta, dist=dist, read_meta=_reader(cfg))
        result = trainer.run(resume=resume)
        if not dist.is_main:
            return {}
        t_finish = time.perf_counter()
        outcome = experiment.finish(session, task, result)
        metrics = {
            **outcome.metrics,
            "updates": result.updates,
            "wall_seconds": result.wall_seconds,
            "updates_per_second": result.updates_per_second,
            "finish_seconds": time.perf_counter() - t_finish,
            "world_size": dist.world_size,
            "device": str(device),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
        }
        report = HtmlReport(outcome.title)
        for text in outcome.text:
            report.paragraph(text)
        report.heading("Results")
        report.table({k: v for k, v in metrics.items() if not isinstance(v, list | dict)})
        for figure in outcome.figures:
            if figure.heading is not None:
                report.heading(figure.heading)
            report.image(figure.path, figure.caption)
        report.heading("Configuration")
        report.table(cfg.flat())
        if schedule.tensorboard:
            log_figures(out, {f.path.stem: f.path for f in outcome.figures}, result.updates)
        report.write(out / "report.html")
        metrics["total_seconds"] = time.perf_counter() - t_start
        write_json(out / "metrics.json", metrics)
        return metrics
