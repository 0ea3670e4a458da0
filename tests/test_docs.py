"""The documentation stays true: READMEs list every flag, open with the two commands CI and users run."""
import re
from itertools import zip_longest

import pytest

from conftest import ROOT
from model_zoo.engine.docs import flag_rows, flags_markdown, readme_table

RECIPES = ["vgg19", "densenet121", "inceptionv4"]


@pytest.mark.parametrize("recipe", RECIPES)
def test_model_readme_flag_table_is_the_schema(recipe):
    """The README's table is the generated one, row for row: flag, default, help (issue 17)."""
    shown = readme_table(recipe)
    assert shown is not None, f"model_zoo/{recipe}/README.md has no flags:start/flags:end markers"
    for number, (line, expected) in enumerate(zip_longest(shown.splitlines(), flags_markdown(recipe).splitlines()), 1):
        assert line == expected, (f"model_zoo/{recipe}/README.md flag table, line {number}: the README has {line!r}, "
                                  f"the schema gives {expected!r}; regenerate with python -m model_zoo.engine.docs "
                                  f"--update")
    text = (ROOT / "model_zoo" / recipe / "README.md").read_text()
    for heading in ("## What it is", "## Quick start", "## Expected output", "## Upstream published results",
                    "## Differences from upstream", "## All flags"):
        assert heading in text


def test_flag_tables_show_what_the_recipes_run_with():
    """The rows issue 17 found wrong: InceptionV4 runs at 299 (its YAML's height/width), DenseNet's --batch_size is
    export's (train and eval read --per_batch_size), --dataset takes folder too, and no table offers a flag no code
    reads (--export_batch_size)."""
    rows = {recipe: {flag: (default, text) for flag, default, text in flag_rows(recipe)} for recipe in RECIPES}
    assert rows["inceptionv4"]["--image_size"][0] == "299,299"
    assert rows["densenet121"]["--image_size"][0] == "224, 224"
    assert "--per_batch_size" in rows["densenet121"]["--batch_size"][1]
    assert rows["densenet121"]["--dataset"][0] == "imagenet"
    for recipe in RECIPES:
        assert "folder" in rows[recipe]["--dataset"][1], recipe
        assert "--export_batch_size" not in rows[recipe], recipe
    assert rows["inceptionv4"]["--ckpt_save_dir"][1].startswith("ignored by this zoo")
    assert rows["vgg19"]["--graph_ckpt"][1].startswith("ignored by this zoo")


def test_readme_opens_with_the_demo_and_the_ci_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    assert "python -m model_zoo.demo" in blocks[0]
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert blocks[1].strip() == ci.strip()
