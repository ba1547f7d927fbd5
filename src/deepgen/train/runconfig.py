"""A run's configuration: the run's own settings with the model's config nested in it.

Every training command's run config is a frozen dataclass derived from :class:`RunConfig`:
the settings of the run (data, schedule, optimizer, device, evaluation) as fields, and the
model's own config dataclass (``VAEConfig``, ``PixelCNNConfig``, …) as the field ``model``, so
each model setting is declared once, by the model. ``config.json`` is the nested dict
``{"data": …, "steps": …, "model": {"hidden": …, …}}``. Settings may also be given flat (flags,
older ``config.json`` files, TOML files without a ``[model]`` table): :meth:`RunConfig.nest`
moves the model's names under ``model``. The model fields the data decide (``x_dim``, image
sizes) are filled in from the data; one given with another value is refused.

A resumed run continues the same experiment, so everything that shapes the numbers is fixed by
the checkpoint: the fields a resume may change are declared here once — how long to train,
where (device, threads), how often to checkpoint, whether to keep TensorBoard files — plus,
per command, the settings that only affect the evaluation after training
(:attr:`RunConfig.EVALUATION_ONLY`). The validation schedule is fixed: it decides which rows
the logs hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass
from typing import Any, ClassVar, Self

from deepgen.errors import ConfigError

RESUME_MAY_CHANGE = frozenset(
    {"steps", "updates", "minutes", "device", "threads", "checkpoint_every", "tensorboard"}
)


def _names(cls: type) -> set[str]:
    return {f.name for f in fields(cls)}


def plain(value: Any) -> Any:
    """JSON's view of a value (tuples become lists), for comparing given with derived."""
    return list(value) if isinstance(value, tuple) else value


def _as_settings(model: Any) -> dict[str, Any]:
    """A model's settings as a dict: from None, a mapping or a config dataclass."""
    if model is None:
        return {}
    if is_dataclass(model) and not isinstance(model, type):
        return asdict(model)
    if isinstance(model, Mapping):
        return dict(model)
    raise ConfigError(f"model must be a table of settings, got {type(model).__name__}")


def merge_settings(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``, both nested (:meth:`RunConfig.nest`); the ``model``
    tables are merged key by key."""
    merged = {**base, **override}
    if "model" in base or "model" in override:
        merged["model"] = {**base.get("model", {}), **override.get("model", {})}
    return merged


@dataclass(frozen=True)
class RunConfig:
    """Base of the frozen run-config dataclasses of the training commands: the settings every
    one of them has besides its own (``minutes``: stop training after this much wall-clock
    time, at the end of an update, even before ``steps``).

    A subclass declares a field ``model`` (None, a dict of the model's settings, or the
    model's config; always the config after construction), the config classes it may hold
    (``MODELS``), and overrides :meth:`model_class_of` (when there is a choice) and
    :meth:`model_from_data`; its ``__post_init__`` calls :meth:`settle_model` first.
    """

    minutes: float | None = None

    EVALUATION_ONLY: ClassVar[tuple[str, ...]] = ()
    ALIASES: ClassVar[dict[str, str]] = {}  # old setting name -> field (config files, resume)
    MODELS: ClassVar[tuple[type, ...]] = ()  # the config classes ``model`` may hold
    # settings that flat config files of older versions held for every model, at these values,
    # whether the chosen model used them or not: read back (:meth:`from_saved`), they are
    # dropped where it does not; given any other way they are refused like any unknown setting
    LEGACY_DEFAULTS: ClassVar[dict[str, Any]] = {}

    # --- the nested model ---------------------------------------------------------------
    @classmethod
    def model_class_of(cls, settings: Mapping[str, Any]) -> type:
        """The model config class that run settings choose (the first of ``MODELS`` unless
        overridden)."""
        return cls.MODELS[0]

    def model_class(self) -> type:
        """The model config class of this run."""
        return self.model_class_of(vars(self))

    def model_from_data(self) -> dict[str, Any]:
        """The model fields this run's data decide (sizes), by name."""
        return {}

    def settle_model(self) -> None:
        """Turn ``model`` (None, a dict or a config) into the model's config for this run's
        data; refuse unknown settings, and data-decided ones given with another value."""
        cls = self.model_class()
        model = getattr(self, "model", None)
        if is_dataclass(model) and not isinstance(model, cls):
            raise ConfigError(f"model: this run takes a {cls.__name__}, got {type(model).__name__}")
        given = _as_settings(model)
        unknown = sorted(set(given) - _names(cls))
        if unknown:
            raise ConfigError(
                f"{', '.join(unknown)}: not a setting of this run's model ({cls.__name__})"
            )
        derived = self.model_from_data()
        for name, value in derived.items():
            if name in given and plain(given[name]) != plain(value):
                raise ConfigError(
                    f"model {name} {given[name]!r} does not fit the data "
                    f"{getattr(self, 'data', '')!r} ({value!r})"
                )
        object.__setattr__(self, "model", cls(**{**given, **derived}))

    # --- settings as dicts --------------------------------------------------------------
    @classmethod
    def model_names(cls) -> set[str]:
        """Every name a model setting of this command may have (over all of ``MODELS``)."""
        return set().union(*(_names(m) for m in cls.MODELS)) if cls.MODELS else set()

    @classmethod
    def nest(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Settings as this class takes them: old names renamed (``ALIASES``), and model
        settings given flat (flags, older config files) moved under ``model``. A setting that
        is neither the run's nor the model's is refused."""
        values = {cls.ALIASES.get(k, k): v for k, v in values.items()}
        own = _names(cls)
        model = _as_settings(values.pop("model", None))
        for name in [k for k in values if k not in own and k in cls.model_names()]:
            value = values.pop(name)
            if name in model and model[name] != value:
                raise ConfigError(f"{name} is given twice: {value!r} and model {model[name]!r}")
            model[name] = value
        unknown = sorted(set(values) - own)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)} for this command")
        return {**values, "model": model} if model else values

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> Self:
        """The run config of flat or nested settings (see :meth:`nest`)."""
        return cls(**cls.nest(values))

    @classmethod
    def saved_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """Settings read back from a run's config.json or checkpoint, nested (:meth:`nest`). A
        flat file of an older version held ``LEGACY_DEFAULTS`` whatever the model: those its
        model lacks, at exactly those values, are dropped."""
        if "model" not in values and cls.LEGACY_DEFAULTS:
            takes = _names(cls.model_class_of(values))
            legacy = cls.LEGACY_DEFAULTS
            values = {
                k: v
                for k, v in values.items()
                if not (k in legacy and k not in takes and v == legacy[k])
            }
        return cls.nest(values)

    @classmethod
    def from_saved(cls, values: Mapping[str, Any]) -> Self:
        """The run config of settings read back from a run's files (:meth:`saved_settings`)."""
        return cls(**cls.saved_settings(values))

    def identity(self) -> dict[str, Any]:
        """The fields a checkpoint fixes: all but the schedule and evaluation-only ones (the
        whole model among them)."""
        free = RESUME_MAY_CHANGE | set(self.EVALUATION_ONLY)
        return {k: v for k, v in asdict(self).items() if k not in free}  # type: ignore[call-overload]

    def flat(self) -> dict[str, Any]:
        """Every setting on one level, the model's as ``model.NAME`` (for report tables)."""
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():  # type: ignore[call-overload]
            if isinstance(value, dict):
                out.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out
