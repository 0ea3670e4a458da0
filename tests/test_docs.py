"""The documentation stays true: READMEs list every flag, open with the two commands CI and users run."""
import re

import pytest

from conftest import ROOT
from model_zoo.engine.docs import flag_rows


@pytest.mark.parametrize("recipe", ["vgg19", "densenet121", "inceptionv4"])
def test_model_readme_lists_every_flag(recipe):
    text = (ROOT / "model_zoo" / recipe / "README.md").read_text()
    missing = [flag for flag, _, _ in flag_rows(recipe) if f"`{flag}`" not in text]
    assert not missing, f"README of {recipe} lacks {missing[:5]}: regenerate with python -m model_zoo.engine.docs --update"
    for heading in ("## What it is", "## Quick start", "## Expected output", "## Upstream published results",
                    "## Differences from upstream", "## All flags"):
        assert heading in text


def test_readme_opens_with_the_demo_and_the_ci_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    assert "python -m model_zoo.demo" in blocks[0]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert blocks[1].strip() == ci.strip()
