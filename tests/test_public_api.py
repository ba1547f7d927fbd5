"""deepgen.flows and deepgen.vae export every public name, and every public class shows a
runnable example (the examples themselves run as doctests in make test)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

PACKAGES = ("deepgen.flows", "deepgen.vae")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_class_has_a_runnable_example(package: str) -> None:
    module = importlib.import_module(package)
    missing = [
        name
        for name in module.__all__
        if inspect.isclass(getattr(module, name))
        and ">>>" not in (getattr(module, name).__doc__ or "")
    ]
    assert not missing, f"public classes of {package} without an example: {missing}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_class_of_the_package_is_exported(package: str) -> None:
    """A class defined in a submodule without a leading underscore is in the package's __all__
    (helpers that only the package uses are named _private, or are not classes)."""
    module = importlib.import_module(package)
    exported = {getattr(module, n) for n in module.__all__}
    internal = {"experiment", "registry", "zoo", "check", "amortization"}  # command machinery
    missing = []
    for info in pkgutil.iter_modules(module.__path__):
        if info.name in internal:
            continue
        sub = importlib.import_module(f"{package}.{info.name}")
        for name, obj in vars(sub).items():
            if (
                inspect.isclass(obj)
                and obj.__module__ == sub.__name__
                and not name.startswith("_")
                and obj not in exported
            ):
                missing.append(f"{info.name}.{name}")
    assert not missing, f"not exported from {package}: {missing}"
