"""Dependency bounds match what was tested, and constraints.txt pins the tested set (issue 11, item 17)."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from support.project import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS = PYPROJECT["optional-dependencies"]


def _own(extra: str) -> list[Requirement]:
    """An extra's requirements, with qa-bot's own extras it names ("qa-bot[eval]") expanded."""
    out = []
    for r in map(Requirement, EXTRAS[extra]):
        out += [x for e in sorted(r.extras) for x in _own(e)] if r.name == PYPROJECT["name"] else [r]
    return out


REQUIREMENTS = [Requirement(r) for r in PYPROJECT["dependencies"]] + _own("test")
LOCAL = _own("local")


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, pinned = line.partition("==")
            assert pinned, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = pinned
    return pins


def test_every_dependency_has_an_upper_bound():
    loose = [
        str(r) for r in REQUIREMENTS + LOCAL if not any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)
    ]
    assert not loose


def test_openai_is_held_to_the_tested_majors_and_pypdf_has_the_2025_fixes():
    (openai,) = [r for r in REQUIREMENTS if r.name == "openai"]
    assert Version("3.57.0") in openai.specifier and Version("4.0.0") not in openai.specifier
    (pypdf,) = [r for r in REQUIREMENTS if r.name == "pypdf"]
    # 6.4.0 fixed the last 2025 memory exhaustion (CVE-2025-66019, LZWDecode); 6.0.0 and 6.1.3 the earlier ones.
    assert Version("6.3.9") not in pypdf.specifier and Version("6.4.0") in pypdf.specifier


def test_constraints_pin_a_tested_set_that_satisfies_pyproject():
    pins = constraints()
    assert "qa-bot" not in pins
    assert pins[canonicalize_name("llama-cpp-python")] == "0.3.36"
    for r in REQUIREMENTS + LOCAL:
        pinned = pins.get(canonicalize_name(r.name))
        assert pinned is not None, f"{r.name} is not in constraints.txt"
        assert Version(pinned) in r.specifier, (
            f"constraints.txt pins {r.name}=={pinned}, outside pyproject's {r.specifier}"
        )


def test_matplotlib_is_the_eval_extra_and_the_tests_install_it():
    assert not any(Requirement(r).name == "matplotlib" for r in PYPROJECT["dependencies"])
    assert [r.name for r in _own("eval")] == ["matplotlib"]
    assert "matplotlib" in {r.name for r in REQUIREMENTS}
