"""Write tests/data/seed_commands.txt: every command line of the seed READMEs that runs a recipe script.

    python tests/data/extract_seed_commands.py [SEED_DIR]   (default /work/shared/seeds)

A line counts when, stripped, it is ``bash|sh [scripts/]run_*.sh ...`` or ``python train.py|eval.py|export.py ...``
(the forms the model folders provide).  For seeds kept in two encodings (``*.txt`` and ``*.utf8.txt``) only the UTF-8
one is read.  Each output line is ``<seed file><TAB><command line>``, in file and line order; a seed with no such
line is listed as ``<seed file><TAB>`` so the file records that it was read.  Lines repeated within one seed are kept
once.  The tests (tests/test_seed_commands.py) read this copy: a clean clone has no seed folder.
"""
import re
import sys
from pathlib import Path

COMMAND = re.compile(r"^(?:(?:ba)?sh\s+(?:\./)?(?:scripts/)?run_\w+\.sh\b|python3?\s+(?:train|eval|export)\.py\b)")
OUT = Path(__file__).resolve().with_name("seed_commands.txt")


def seed_files(folder):
    files = sorted(Path(folder).glob("*.txt"))
    utf8 = {p.name.replace(".utf8.txt", ".txt") for p in files if p.name.endswith(".utf8.txt")}
    return [p for p in files if p.name.endswith(".utf8.txt") or p.name not in utf8]


def extract(folder):
    rows = []
    for path in seed_files(folder):
        seen = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if COMMAND.match(line) and line not in seen:
                seen.append(line)
        rows += [f"{path.name}\t{line}" for line in seen] or [f"{path.name}\t"]
    return rows


if __name__ == "__main__":
    rows = extract(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/seeds")
    OUT.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} line(s) to {OUT}")
