"""Flag reference of a recipe, generated from its YAMLs: ``python -m model_zoo.engine.docs vgg19``.

The model READMEs embed this table (a test keeps them in step with the YAMLs)."""
import sys

from model_zoo.engine.config import ConfigSchema, _is_scalar
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


if __name__ == "__main__":
    print(flags_markdown(sys.argv[1] if len(sys.argv) > 1 else "vgg19"))
