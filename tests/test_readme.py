"""README stays true to the catalog and to CI."""

import re
from pathlib import Path

from authlens import catalog

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_findings_table_is_the_catalog():
    block = re.search(r"<!-- findings:start -->\n(.*?)<!-- findings:end -->", README, re.S)
    assert block, "README lacks the findings markers"
    assert block.group(1).strip() == catalog.markdown_table().strip(), (
        "README's findings table is stale: run `PYTHONPATH=addons python3 -m authlens catalog --readme README.md`")


def test_findings_table_shows_each_explanation():
    """The table says why each finding makes a call fail, not only where the fix lives."""
    block = README.split("<!-- findings:start -->")[1].split("<!-- findings:end -->")[0]
    rows = {line.split(" | ")[0].strip("| `"): line for line in block.splitlines()
            if line.startswith("| `")}
    for entry in catalog.CATALOG.values():
        assert f"| {entry.explanation} |" in rows[entry.id], entry.id


def test_readme_stays_under_200_lines():
    assert len(README.splitlines()) < 200


def test_readme_starts_with_run_and_test_commands():
    blocks = re.findall(r"```\n(.*?)\n```", README, re.S)
    assert "mitmdump -s addon.py" in blocks[0]
    assert blocks[1] == "scripts/test"
