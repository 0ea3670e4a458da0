"""Flag reference of a recipe, generated from its YAMLs: ``python -m model_zoo.engine.docs RECIPE``.

The model READMEs embed this table between ``<!-- flags:start`` and ``<!-- flags:end -->`` markers;
``python -m model_zoo.engine.docs --update`` refreshes every recipe's README (a test keeps them in step)."""
import re
import sys

from model_zoo.engine.config import ConfigSchema, _is_scalar
from model_zoo.engine.console import say
from model_zoo.engine.registry import get_recipe


def flag_rows(recipe_name):
    """(flag, default of the recipe's default YAML, help) for every flag the recipe accepts."""
    from model_zoo.engine.config import read_yaml

    recipe = get_recipe(recipe_name)
    schema = ConfigSchema(recipe.yaml_paths(), recipe.aliases)
    values, _, _ = read_yaml(recipe.default_config_path())
    default_values = {schema.canonical(k): v for k, v in values.items()}
    rows = []
    for key in sorted(set(schema.defaults) | set(schema.aliases)):
        canon = schema.canonical(key)
        default = default_values.get(canon, schema.defaults.get(canon))
        if not _is_scalar(default):
            continue
        text = f"alias of `--{canon}`" if key != canon else str(schema.helps.get(key, "")).replace("|", "/")
        rows.append((f"--{key}", default, text))
    return rows


def flags_markdown(recipe_name):
    lines = ["| flag | default | meaning |", "|---|---|---|"]
    for flag, default, text in flag_rows(recipe_name):
        shown = '""' if default == "" else default
        lines.append(f"| `{flag}` | `{shown}` | {text} |")
    return "\n".join(lines)


def update_readme(recipe_name):
    """Rewrite the flag table of the recipe's README.md in place; returns the path."""
    path = get_recipe(recipe_name).folder / "README.md"
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(r"(<!-- flags:start[^>]*-->\n).*?(<!-- flags:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path} has no flags:start/flags:end markers")
    path.write_text(pattern.sub(lambda m: m.group(1) + flags_markdown(recipe_name) + "\n" + m.group(2), text),
                    encoding="utf-8")
    return path


if __name__ == "__main__":
    if sys.argv[1:] == ["--update"]:
        from model_zoo.engine.registry import list_recipes

        for name in list_recipes():
            say(f"updated {update_readme(name)}")
    else:
        from model_zoo.engine.registry import list_recipes

        say(flags_markdown(sys.argv[1] if len(sys.argv) > 1 else list_recipes()[0]))
