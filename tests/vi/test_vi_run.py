"""``run_vi`` as a library call: the seed example's closed form, files, and a file as ``--out``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from deepgen.cli.main import main
from deepgen.vi import VIConfig, run_vi


def test_run_vi_seed_q2_closed_form(tmp_path: Path) -> None:
    cfg = VIConfig(example="seed", n=10, family="Q2", device="cpu")
    r = run_vi(cfg, tmp_path / "vi")
    assert r["q_star"] == [0.0] * 10 and r["free_energy"] == 0.0
    assert r["log_z"] == pytest.approx(math.log(1023), abs=1e-12)
    assert r["kl"] == pytest.approx(math.log(1023), abs=1e-12)
    assert r["closed_form"]["log_z"] == pytest.approx(math.log(1023), abs=1e-12)
    saved = json.loads((tmp_path / "vi" / "metrics.json").read_text())
    assert saved["q_star"] == r["q_star"] and saved["log_z"] == r["log_z"]
    assert (tmp_path / "vi" / "marginals.png").read_bytes()[:4] == b"\x89PNG"


def test_out_naming_a_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "f.txt"
    file.write_text("x")
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(["vi", "--example", "seed", "--n", "3", "--out", str(file)]))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "is a file" in err
    assert file.read_text() == "x"
