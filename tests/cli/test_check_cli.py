"""``deepgen check``: every built-in transform verified in float64; the ReLU counterexample."""

from __future__ import annotations

import json

import pytest

from deepgen.cli.main import main
from deepgen.flows.registry import BUILTINS


def test_check_json_covers_every_builtin_and_all_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--json", "--features", "3", "--batch", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    names = [row["name"] for row in result["transforms"]]
    assert names == list(BUILTINS)
    for row in result["transforms"]:
        assert {"name", "max_inverse_error", "max_logdet_error", "ok"} <= set(row)
        assert row["ok"] and row["max_inverse_error"] <= row["tolerance"]
    (relu,) = result["counterexamples"]
    assert relu["ok"] is False and "singular" in relu["message"]


def test_check_exits_non_zero_when_a_transform_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from deepgen.flows import registry
    from deepgen.flows.linear import ElementwiseAffine

    class Wrong(ElementwiseAffine):
        def forward(self, x, context=None):  # type: ignore[override]
            y, ld = super().forward(x, context)
            return y, 2 * ld  # a wrong log-determinant

    monkeypatch.setitem(registry.BUILTINS, "Wrong", registry.Builtin(Wrong))
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "FAIL Wrong" in out
