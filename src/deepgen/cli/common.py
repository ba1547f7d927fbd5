"""Flag types and flags shared by every command (``--out``, ``--seed``, ``--device``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from deepgen.errors import CheckpointError, ConfigError
from deepgen.fileio import dumps
from deepgen.train.runconfig import merge_settings, plain

T = TypeVar("T")


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def add_common(parser: argparse.ArgumentParser, out: str | None, defaults: bool = True) -> None:
    """Add ``--out DIR``, ``--seed`` and ``--device``.

    With ``defaults=False`` the flags default to None, so a command can tell which were given.
    """
    parser.add_argument("--out", default=out, metavar="DIR", help=f"output folder (default: {out})")
    parser.add_argument(
        "--seed",
        type=nonnegative_int,
        default=0 if defaults else None,
        help="random seed (default: 0)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto" if defaults else None,
        help="auto = CUDA when available (default: auto)",
    )


def add_training(parser: argparse.ArgumentParser, defaults: Any, out: str) -> None:
    """The flags every training command shares: ``--config``, its schedule (``--val-every``,
    ``--checkpoint-every``), ``--threads``, ``--out``/``--seed``/``--device``, ``--resume`` and
    ``--quiet``. Defaults are None (shown from the run config ``defaults``), so ``--resume`` can
    tell which flags were given."""
    parser.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        help="bf16: each update under torch.autocast(bfloat16); on a CPU only where measured "
        "to pay (pixelcnn) (default fp32)",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile the training loss (vae, pixelcnn), the flow's log-density or the "
        "GAN's networks; measured on a CPU: vae 1.22x, pixelcnn 1.31x, flows 1.39-1.71x, "
        "gan 0.54-0.92x (slower); the first compile takes up to a minute",
    )
    parser.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="also write TensorBoard event files (scalars and figures) into DIR/tensorboard",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="settings from a TOML file or a run's config.json; flags override them",
    )
    parser.add_argument(
        "--minutes",
        type=positive_float,
        help="stop training after M minutes of wall-clock time (at the end of an update, "
        "checkpointed), even before --steps; the run is then not reproducible to the update",
    )
    parser.add_argument(
        "--val-every",
        type=positive_int,
        help=f"validate every N updates (default {defaults.val_every})",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=positive_int,
        help=f"atomic checkpoint every N updates, and at the end (default "
        f"{defaults.checkpoint_every})",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        help=f"CPU threads for torch (default {defaults.threads}: small models run fastest, "
        "and do not collapse on a shared machine, with one)",
    )
    add_common(parser, out=out, defaults=False)
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no summary")


def print_json(obj: Any) -> None:
    """Print one strict JSON object on stdout (non-finite numbers become strings)."""
    print(dumps(obj))


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a TOML file or a run's ``config.json`` (by suffix; JSON, then TOML,
    when the suffix says neither); one-line errors for a missing or unparsable file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config {p}: no such file")
    text = p.read_text()
    try:
        if p.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif p.suffix == ".json":
            data = json.loads(text)
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"--config {p} is neither valid TOML nor JSON: {first}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"--config {p} must hold a table of settings, got {type(data).__name__}")
    return data


def run_config(cls: type[T], args: argparse.Namespace, fresh: Callable[..., T] | None = None) -> T:
    """Build a run config (a :class:`~deepgen.train.runconfig.RunConfig`) from ``--config FILE``
    (if given) and the flags given (those not None), the flags winning over the file; the
    model's flags land in the nested ``model`` config.

    A fresh run is ``fresh(**settings)`` (default: the class itself; a command with per-data
    defaults passes its own builder). With ``--resume`` the run's saved ``config.json`` is the
    base: the settings may change the schedule (the fields its ``identity()`` leaves out) but
    not what the checkpoint depends on (the model is fixed whole).
    """
    rc: Any = cls
    names = {f.name for f in dataclasses.fields(rc)} | rc.model_names()
    flags = rc.nest({k: v for k, v in vars(args).items() if k in names and v is not None})
    given = flags
    if getattr(args, "config", None):
        try:
            settings = read_config_file(args.config)
            # a run's config.json is read back as saved (older versions' files are flat)
            saved_file = str(args.config).endswith(".json")
            from_file = rc.saved_settings(settings) if saved_file else rc.nest(settings)
        except ConfigError as exc:
            raise ConfigError(f"--config {args.config}: {exc}") from None
        given = merge_settings(from_file, flags)
    if not args.resume:
        return (fresh or cls)(**given)
    config_file = Path(args.out) / "config.json"
    if not config_file.is_file():
        raise CheckpointError(f"--resume: no run to resume in {args.out} ({config_file} missing)")
    try:
        saved = rc.saved_settings(json.loads(config_file.read_text()))
        fixed = rc(**saved).identity()
    except (json.JSONDecodeError, TypeError, ConfigError) as exc:
        raise CheckpointError(f"{config_file} is corrupt: {exc}") from None
    unfit: ConfigError | None = None
    try:
        asked = cls(**merge_settings(saved, given))
        # compared as the config holds them (a JSON list [28, 28] is the tuple (28, 28))
        wanted = asked.identity()  # type: ignore[attr-defined]
    except ConfigError as exc:  # settings that cannot make a run together: name those changed
        unfit, wanted = exc, {**given, "model": given.get("model", {})}
    fixed_model, wanted_model = fixed.get("model", {}), wanted.get("model", {})
    clashes = [
        f"--{k.replace('_', '-')} {v} (the run has {fixed[k]})"
        for k, v in given.items()
        if k != "model" and k in fixed and plain(wanted.get(k)) != plain(fixed[k])
    ] + [
        f"--{k.replace('_', '-')} {v} "
        + (f"(the run has {fixed_model[k]})" if k in fixed_model else "(not in the run's model)")
        for k, v in given.get("model", {}).items()
        if plain(wanted_model.get(k)) != plain(fixed_model.get(k))
    ]
    if clashes:
        raise ConfigError(
            "--resume continues the run as configured; these flags differ: " + ", ".join(clashes)
        )
    if unfit is not None:  # nothing the run fixes was changed, yet the settings do not fit
        raise unfit
    return asked
