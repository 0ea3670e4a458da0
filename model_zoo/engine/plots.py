"""Pictures of a run (headless matplotlib).  Plotting is optional: a missing matplotlib makes the functions return
None; an error while drawing is raised, and every caller (training, eval, report) turns it into a one-line warning
(:func:`failure`) so a picture never stops a run."""
import csv
from pathlib import Path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        return plt
    except Exception:  # matplotlib absent or broken: plots are skipped
        return None


def failure(what, exc):
    """One warning line for a picture that could not be drawn."""
    detail = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"WARNING: {what} not drawn: {exc.__class__.__name__}: {detail}"


def read_metrics(path):
    """Rows of a run's metrics.csv as dicts of floats (empty cells -> None)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows.append({k: (float(v) if v not in ("", None) else None) for k, v in row.items()})
    return rows


def plot_curves(runs, path):
    """Train loss, lr and (when evaluated) val top-1/top-5 error per epoch.  ``runs``: {label: metrics rows}."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    try:
        return _draw_curves(fig, axes, runs, path)
    finally:
        plt.close(fig)


NO_EVAL_NOTE = "no validation during training\n(train with --run_eval=True to draw it)"


def _draw_curves(fig, axes, runs, path):
    for label, rows in runs.items():
        epochs = [r["epoch"] for r in rows]
        axes[0].plot(epochs, [r["mean_loss"] for r in rows], marker="o", label=label)
        axes[1].plot(epochs, [r["lr"] for r in rows], marker=".", label=label)
        evaluated = [r for r in rows if r.get("top1") is not None]
        if evaluated:
            axes[2].plot([r["epoch"] for r in evaluated], [100 * (1 - r["top1"]) for r in evaluated], marker="o",
                         label=f"{label} top-1")
            axes[2].plot([r["epoch"] for r in evaluated], [100 * (1 - r["top5"]) for r in evaluated], marker="x",
                         linestyle="--", label=f"{label} top-5")
    if not axes[2].lines:
        axes[2].text(0.5, 0.5, NO_EVAL_NOTE, ha="center", va="center", transform=axes[2].transAxes, color="0.35")
        axes[2].set_xticks([])
        axes[2].set_yticks([])
    from matplotlib.ticker import MaxNLocator

    for axis, title, ylabel in zip(axes, ("train loss (epoch mean)", "learning rate", "val error"),
                                   ("loss", "lr", "error %")):
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        if axis.lines:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
            axis.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path):
    """Write the figure to a temporary file, then rename it over ``path`` (a reader never sees half a PNG)."""
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=90)
    tmp.replace(path)
    return path


def plot_confusion(matrix, classes, path):
    """Confusion matrix (rows: true class, columns: predicted) with class names; up to 100 classes."""
    plt = _pyplot()
    if plt is None or len(classes) > 100:
        return None
    size = max(4.0, 0.35 * len(classes) + 2)
    fig, axis = plt.subplots(figsize=(size, size))
    try:
        return _draw_confusion(fig, axis, matrix, classes, path)
    finally:
        plt.close(fig)


def count_color(value, vmax):
    """Text colour for a count drawn on a 'Blues' cell: white on the dark upper half of the scale, black below."""
    return "white" if vmax and value > vmax / 2 else "black"


def _draw_confusion(fig, axis, matrix, classes, path):
    vmax = max((max(row) for row in matrix), default=0)
    image = axis.imshow(matrix, cmap="Blues", vmin=0)
    axis.set_xticks(range(len(classes)))
    axis.set_yticks(range(len(classes)))
    axis.set_xticklabels(classes, rotation=90, fontsize=7)
    axis.set_yticklabels(classes, fontsize=7)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    if len(classes) <= 20:
        for i in range(len(classes)):
            for j in range(len(classes)):
                if matrix[i][j]:
                    axis.text(j, i, str(int(matrix[i][j])), ha="center", va="center", fontsize=7,
                              color=count_color(matrix[i][j], vmax))
    fig.colorbar(image, ax=axis, fraction=0.046)
    return _save(fig, path)
