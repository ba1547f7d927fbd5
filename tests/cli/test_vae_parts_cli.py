"""``deepgen vae`` with composed parts: a flow posterior trains, evaluates and measures its gap;
each new flag has a measurable effect; flags the chosen parts cannot use are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from deepgen.cli.main import main
from deepgen.vae import ComposedVAE, VAEConfig

FAST = ["--eval-k", "20", "--quiet", "--val-every", "100", "--checkpoint-every", "1000"]


def _run(out: Path, *flags: str, updates: int = 150) -> dict:
    assert main(["vae", "--out", str(out), "--updates", str(updates), *FAST, *flags]) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def iaf_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vae") / "iaf"
    _run(out, "--posterior", "iaf", "--flows", "2")
    return out


def test_a_flow_posterior_trains_and_is_saved_as_one(iaf_run: Path) -> None:
    config = json.loads((iaf_run / "config.json").read_text())
    assert config["model"]["posterior"] == "iaf" and config["model"]["flows"] == 2
    state = torch.load(iaf_run / "checkpoint.pt", weights_only=False)
    keys = state["task"]["model"].keys()
    assert any(k.startswith("encoder.transform.") for k in keys)  # the IAF layers were trained
    metrics = json.loads((iaf_run / "metrics.json").read_text())
    assert metrics["val_loglik_iwae"] > -196 * 0.6931  # better than coin flips
    report = (iaf_run / "report.html").read_text()
    assert "2 inverse autoregressive (IAF) layers" in report


def test_eval_and_gap_work_on_a_flow_posterior(
    iaf_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = str(iaf_run / "checkpoint.pt")
    assert main(["vae", "eval", "--checkpoint", ckpt, "--k", "50", "--limit", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["log_px"] >= result["elbo"] - 0.5  # log p̂(x) is the tighter number
    gap = ["vae", "gap", "--checkpoint", ckpt, "--out", str(tmp_path / "gap"), "--json"]
    opts = ["--n", "4", "--k", "100", "--steps", "30", "--opt-samples", "5"]
    assert main([*gap, *opts, "--eval-samples", "100", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    total = summary["approximation_gap"] + summary["amortization_gap"]
    assert total == pytest.approx(summary["inference_gap"], abs=1e-9)


def test_a_vamp_prior_learns_its_pseudo_inputs(tmp_path: Path) -> None:
    out = tmp_path / "vamp"
    _run(out, "--prior", "vamp", "--pseudo-inputs", "10", updates=60)
    state = torch.load(out / "checkpoint.pt", weights_only=False)["task"]["model"]
    fresh = ComposedVAE.from_config(VAEConfig(prior="vamp", pseudo_inputs=10)).state_dict()
    moved = (state["prior.pseudo_inputs"] - fresh["prior.pseudo_inputs"]).abs().max()
    assert moved > 1e-3


def test_beta_changes_the_kl_the_model_settles_at(tmp_path: Path) -> None:
    plain = _run(tmp_path / "b1", updates=300)
    heavy = _run(tmp_path / "b4", "--beta", "4", updates=300)
    assert heavy["val_kl"] < plain["val_kl"] - 1.0, (heavy["val_kl"], plain["val_kl"])


def test_dreg_changes_the_training_but_not_the_first_objective(tmp_path: Path) -> None:
    flags = ("--objective", "iwae", "--samples", "8")
    a = tmp_path / "reparam"
    b = tmp_path / "dreg"
    _run(a, *flags, updates=40)
    _run(b, *flags, "--estimator", "dreg", updates=40)
    log_a = [json.loads(line) for line in (a / "train_log.jsonl").read_text().splitlines()]
    log_b = [json.loads(line) for line in (b / "train_log.jsonl").read_text().splitlines()]
    # same seed, same draws: the first update sees the same IWAE value ...
    assert log_a[0]["objective"] == pytest.approx(log_b[0]["objective"], abs=1e-5)
    # ... but the encoder's gradient differs, so the runs part ways
    assert abs(log_a[-1]["objective"] - log_b[-1]["objective"]) > 1e-4


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--flows", "3"], "--flows needs a flow posterior"),
        (["--groups", "2"], "--groups goes with"),
        (["--objective", "miwae", "--samples", "4"], "needs --groups"),
        (["--objective", "iwae", "--beta", "0.5"], "--beta goes with"),
        (["--estimator", "dreg"], "use --objective iwae"),
        (["--posterior", "iaf", "--objective", "iwae", "--estimator", "dreg"], "gaussian"),
        (["--pseudo-inputs", "5"], "--prior vamp"),
        (["--beta", "-1"], "--beta"),
    ],
)
def test_flags_the_parts_cannot_use_are_refused_in_one_line(
    tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["vae", "--out", str(tmp_path / "x"), *flags])
    except SystemExit as exc:  # argparse's own refusals (a bad value for a typed flag)
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err
    assert err.splitlines()[-1].count("error") == 1
    assert not (tmp_path / "x" / "checkpoint.pt").exists()
