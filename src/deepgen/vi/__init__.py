"""Variational inference on discrete models: exact enumeration and mean-field families."""

from deepgen.vi.discrete import (
    MAX_ENUMERATION_N,
    CallableEnergy,
    EnergyModel,
    Enumeration,
    PairwiseEnergy,
    TableEnergy,
    enumerate_exact,
    free_energy,
    ising_grid,
    kl_divergence,
    log_partition,
    mean_energy_autograd,
)
from deepgen.vi.meanfield import MeanFieldResult, cavi, gradient_q1, mean_field, optimize_q2
from deepgen.vi.run import VIConfig, plot_marginals, run_vi

__all__ = [
    "MAX_ENUMERATION_N",
    "CallableEnergy",
    "EnergyModel",
    "Enumeration",
    "MeanFieldResult",
    "PairwiseEnergy",
    "TableEnergy",
    "VIConfig",
    "cavi",
    "enumerate_exact",
    "free_energy",
    "gradient_q1",
    "ising_grid",
    "kl_divergence",
    "log_partition",
    "mean_energy_autograd",
    "mean_field",
    "optimize_q2",
    "plot_marginals",
    "run_vi",
]
