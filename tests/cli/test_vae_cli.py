"""``deepgen vae`` end to end: every file written, report embeds its images, resume, errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from deepgen.bounds import iwae_bound
from deepgen.cli.main import main
from deepgen.data import load_dataset
from deepgen.train import EpochSampler
from deepgen.vae.model import VAE, VAEConfig

FAST = ["--updates", "300", "--eval-k", "20", "--quiet", "--checkpoint-every", "100"]
EXPECTED_FILES = {
    "elbo_terms.png",
    "reconstructions.png",
    "samples.png",
    "loglik_train_vs_val.png",
    "report.html",
    "metrics.json",
    "config.json",
    "checkpoint.pt",
    "train_log.jsonl",
    "val_log.jsonl",
}
METRIC_KEYS = {
    "updates",
    "train_elbo",
    "val_elbo",
    "val_rec",
    "val_kl",
    "val_loglik_iwae",
    "iwae_k",
    "wall_seconds",
    "updates_per_second",
}


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "img" and a.get("src"):
            self.sources.append(a["src"] or "")
        if tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.external.append(tag)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vae") / "run"
    assert main(["vae", "--out", str(out), *FAST]) == 0
    return out


def test_run_writes_every_file_with_metrics(run_dir: Path) -> None:
    assert {p.name for p in run_dir.iterdir()} >= EXPECTED_FILES
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics) >= METRIC_KEYS
    assert metrics["updates"] == 300 and metrics["iwae_k"] == 20
    assert metrics["val_elbo"] == pytest.approx(metrics["val_rec"] - metrics["val_kl"])
    assert metrics["val_kl"] > 0
    # after 300 updates the model is far better than a uniform coin per pixel (196 log 2)
    assert metrics["val_elbo"] > -196 * 0.6931
    # log p(x) estimate with K=20 is above the ELBO (same model, same data)
    assert metrics["val_loglik_iwae"] > metrics["val_elbo"]
    config = json.loads((run_dir / "config.json").read_text())
    assert (
        config["steps"] == 300 and config["model"]["samples"] == 2 and config["data"] == "mnist14"
    )
    rows = (run_dir / "train_log.jsonl").read_text().splitlines()
    assert len(rows) == 300 and {"update", "loss", "rec", "kl"} <= set(json.loads(rows[0]))
    vals = [json.loads(r) for r in (run_dir / "val_log.jsonl").read_text().splitlines()]
    assert [v["update"] for v in vals] == [100, 200, 300]


def test_report_is_self_contained_html_with_the_four_plots(run_dir: Path) -> None:
    page = (run_dir / "report.html").read_text()
    parser = _Images()
    parser.feed(page)
    assert len(parser.sources) == 4 and not parser.external
    for src in parser.sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    # The four plots appear in SPEC order, the metrics and the config in tables.
    order = [page.index(s) for s in ("1. The two ELBO", "2. Images", "3. Samples", "4. Recon")]
    assert order == sorted(order)
    assert "val_loglik_iwae" in page and "batch_size" in page


def test_checkpoint_holds_the_trained_weights(run_dir: Path) -> None:
    from deepgen.vae.experiment import load_vae

    model, run = load_vae(run_dir / "checkpoint.pt", torch.device("cpu"))
    assert isinstance(model, VAE) and run["lr"] == pytest.approx(3e-3)


def test_eval_prints_log_px_with_standard_error(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["vae", "eval", "--checkpoint", str(run_dir / "checkpoint.pt"), "--k", "50"]
    assert main([*args, "--limit", "40", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["images"] == 40 and result["k"] == 50 and result["split"] == "test"
    assert result["stderr"] > 0 and result["log_px"] > result["elbo"]
    assert main([*args, "--limit", "10"]) == 0
    assert "±" in capsys.readouterr().out
    # --spread: 40 images spread over the 1,000 test images, not the first 40
    assert main([*args, "--spread", "40", "--json"]) == 0
    spread = json.loads(capsys.readouterr().out)
    from deepgen.vae.experiment import evaluate_checkpoint

    again = evaluate_checkpoint(run_dir / "checkpoint.pt", k=50, spread_over=40)
    assert spread["images"] == 40 and spread["log_px"] == pytest.approx(again["log_px"])
    assert spread["log_px"] != pytest.approx(result["log_px"], abs=1e-3)


def test_iwae_objective_runs_end_to_end(tmp_path: Path) -> None:
    """The first logged objective is the IWAE bound L_5 of the initial model on the first batch
    with the run's own noise, recomputed here; the ELBO of the same draws is lower: the flag is
    what was trained."""
    out = tmp_path / "iwae"
    argv = ["vae", "--out", str(out), "--objective", "iwae", "--samples", "5", *FAST]
    assert main([x if x != "300" else "100" for x in argv]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["updates"] == 100 and metrics["val_elbo"] > -196 * 0.6931
    first = json.loads((out / "train_log.jsonl").read_text().splitlines()[0])
    torch.manual_seed(0)  # the run's seed: the same initial weights, then the same noise
    model = VAE(VAEConfig(objective="iwae", samples=5))
    data = load_dataset("mnist14")
    x = data.train[EpochSampler(len(data.train), 100, 0).indices(1)]
    with torch.no_grad():
        log_w = model.log_weights(x, 5, validate=False)
    assert first["objective"] == pytest.approx(iwae_bound(log_w).mean().item(), abs=1e-5)
    assert first["objective"] > log_w.mean().item() + 0.05  # L_5 > L_1 on the same draws


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    """200 updates, then --resume to 300, ends with exactly the numbers of a 300-update run."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["vae", "--out", str(a), *FAST]) == 0
    short = [x if x != "300" else "200" for x in FAST]
    assert main(["vae", "--out", str(b), *short]) == 0
    assert main(["vae", "--out", str(b), "--resume", *FAST]) == 0
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    for key in ("train_elbo", "val_elbo", "val_rec", "val_kl", "val_loglik_iwae"):
        assert ma[key] == mb[key], key
    assert (a / "train_log.jsonl").read_text() == (b / "train_log.jsonl").read_text()
    assert (a / "val_log.jsonl").read_text() == (b / "val_log.jsonl").read_text()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["vae", "--lr", "-1"], "--lr"),
        (["vae", "--lr", "abc"], "--lr"),
        (["vae", "--lr", "nan"], "--lr"),
        (["vae", "--updates", "0"], "--updates"),
        (["vae", "--data", "cifar"], "--data"),
        (["vae", "--device", "tpu"], "--device"),
        (["vae", "--data", "mnist28"], "--data-dir"),
        (["vae", "--batch-size", "20000", "--updates", "1"], "batch size"),
        (["vae", "eval", "--checkpoint", "/nonexistent/ck.pt"], "not found"),
        (["vae", "--resume", "--updates", "5"], "no run to resume"),
    ],
)
def test_bad_flags_exit_non_zero_with_one_line(
    argv: list[str], needle: str, tmp_path: Path, one_line_error: Callable[[], str]
) -> None:
    out = ["--out", str(tmp_path / "run")] if argv[1] != "eval" else []
    with pytest.raises(SystemExit) as info:
        code = main([*argv, *out, "--quiet"] if argv[1] != "eval" else argv)
        raise SystemExit(code)
    assert info.value.code == 2
    assert needle in one_line_error()


def test_corrupt_checkpoint_and_clashing_resume(
    run_dir: Path, tmp_path: Path, one_line_error: Callable[[], str]
) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes((run_dir / "checkpoint.pt").read_bytes()[:1000])
    assert main(["vae", "eval", "--checkpoint", str(bad)]) == 2
    assert "corrupt" in one_line_error()
    assert main(["vae", "--out", str(run_dir), "--resume", "--lr", "0.5", "--quiet"]) == 2
    assert "--lr 0.5" in one_line_error()
    assert main(["vae", "--out", str(run_dir), "--quiet", "--updates", "5"]) == 2
    assert "--resume" in one_line_error()


def test_nan_loss_exits_with_the_update_named(
    tmp_path: Path, one_line_error: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = VAE.loss
    calls = {"n": 0}

    def loss(self: VAE, x: torch.Tensor, **kw: object) -> tuple[torch.Tensor, dict]:
        calls["n"] += 1
        value, stats = real(self, x, **kw)  # type: ignore[arg-type]
        return (value * float("nan") if calls["n"] == 150 else value), stats

    monkeypatch.setattr(VAE, "loss", loss)
    out = tmp_path / "run"
    assert main(["vae", "--out", str(out), *FAST]) == 2
    err = one_line_error()
    assert "update 150" in err and "update 100" in err
    assert (out / "checkpoint.pt").is_file()


def test_no_traceback_from_the_installed_command(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "deepgen.cli.main", "vae", "--lr", "-3", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "--lr" in proc.stderr
