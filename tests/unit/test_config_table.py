"""README's configuration table matches ``Settings``: every setting listed, none that doesn't exist, the same defaults.

A row names one or more variables separated by ` / ` (another accepted name in parentheses: `X` (or `Y`)), and its
default cell gives as many defaults, separated the same way. A default that starts with a code span states the value;
`–` or words without a leading code span ("packaged Qwen") stand for a default of None that qa-bot resolves itself.
Paths are relative to the checkout the tests run from.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa_bot.config import FIELDS, env_names

ROOT = Path(__file__).resolve().parents[2]
HEADER = "| variable | default | meaning |"
CODE = re.compile(r"`([^`]*)`")


ENV_TO_FIELD = {env: field for field in FIELDS for env in env_names(field)}


def table_rows() -> list[tuple[str, str]]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines.count(HEADER) == 1, "README.md must have exactly one configuration table"
    start = lines.index(HEADER) + 2  # after the header and its |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        variable, default, _meaning = (c.strip() for c in line.strip().strip("|").split(" | ", 2))
        rows.append((variable, default))
    return rows


def documented() -> list[tuple[list[str], str]]:
    """(the names of one setting, its default cell) for every setting a row names."""
    out = []
    for variable, default in table_rows():
        names, defaults = variable.split(" / "), default.split(" / ")
        assert len(names) == len(defaults), f"{variable}: {len(names)} variables but {len(defaults)} defaults"
        out += [(CODE.findall(n), d.strip()) for n, d in zip(names, defaults, strict=True)]
    return out


def stated(cell: str) -> str | None:
    """The value a default cell states: its leading code span; None for `–` or words (a default qa-bot resolves)."""
    m = re.match(r"`([^`]*)`", cell)
    return m.group(1) if m else None


def same(value: str | None, default: object) -> bool:
    if value is None or default is None:
        return value is None and default is None
    if isinstance(default, bool):
        return value == str(default).lower()
    if isinstance(default, int | float):
        return float(value) == default
    if isinstance(default, Path):
        path = Path(value).expanduser()
        return (path if path.is_absolute() else ROOT / path) == default
    return value == str(default)


def test_the_table_names_only_settings_that_exist():
    unknown = [name for names, _ in documented() for name in names if name not in ENV_TO_FIELD]
    assert not unknown, f"README names settings that Settings doesn't have: {unknown}"


def test_every_setting_is_in_the_table_once():
    rows = [{ENV_TO_FIELD.get(n) for n in names} for names, _ in documented()]
    assert all(len(fields) == 1 for fields in rows), "one table entry names two different settings"
    listed = [next(iter(fields)) for fields in rows]
    missing = sorted(set(FIELDS) - set(listed))
    assert not missing, f"settings missing from README's configuration table: {missing}"
    assert len(listed) == len(set(listed)), f"listed twice: {sorted({f for f in listed if listed.count(f) > 1})}"


@pytest.mark.parametrize(("names", "cell"), documented(), ids=lambda x: x[0] if isinstance(x, list) else "")
def test_the_documented_default_is_the_default(names, cell):
    field = ENV_TO_FIELD.get(names[0])
    if field is None:
        pytest.skip(f"{names[0]} is not a setting (reported by test_the_table_names_only_settings_that_exist)")
    default = FIELDS[field].get_default(call_default_factory=True)
    assert same(stated(cell), default), f"README says {names[0]} defaults to {cell!r}; Settings says {default!r}"
