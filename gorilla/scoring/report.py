"""A report a person would rather look at than read: a markdown table and a stacked bar chart."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gorilla.data.jsonl import atomic_write
from gorilla.scoring.score import FileScore

COLORS = {"accuracy": "#2e7d32", "error": "#9e9e9e", "hallucination": "#c62828"}


def markdown_table(rows: Sequence[tuple[FileScore, FileScore]]) -> str:
    """One row per file: compat and strict figures side by side."""
    lines = ["| file | hub | n | compat accuracy | compat hallucination | compat error | strict accuracy | strict hallucination | strict error |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c, s in rows:
        lines.append(f"| {Path(c.file).name} | {c.hub} | {c.n} | {c.accuracy:.3f} | {c.hallucination:.3f} | {c.error:.3f} "
                     f"| {s.accuracy:.3f} | {s.hallucination:.3f} | {s.error:.3f} |")
    return "\n".join(lines) + "\n"


def bar_chart(rows: Sequence[tuple[FileScore, FileScore]], out: Path) -> None:
    """Two panels (compat, strict); each file a bar split into accuracy, error and hallucination."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [Path(c.file).stem.removeprefix("response_") for c, _ in rows]
    fig, axes = plt.subplots(1, 2, figsize=(13, 0.45 * len(rows) + 1.6), sharey=True)
    for ax, mode, scores in zip(axes, ("compat", "strict"), zip(*rows, strict=True), strict=True):
        left = [0.0] * len(rows)
        for key in ("accuracy", "error", "hallucination"):
            values = [getattr(s, key) for s in scores]
            bars = ax.barh(labels, values, left=left, color=COLORS[key], label=key)
            ax.bar_label(bars, labels=[f"{v:.2f}" if v >= 0.06 else "" for v in values], label_type="center",
                         color="white", fontsize=8)
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.set_xlim(0, 1)
        ax.set_title(f"{mode} mode")
    axes[0].invert_yaxis()  # the axes share y: inverting once puts the first file on top
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (0.45 * len(rows) + 1.6)))
    with atomic_write(out, "wb") as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def write_report(rows: Sequence[tuple[FileScore, FileScore]], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, png = out_dir / "report.md", out_dir / "report.png"
    bar_chart(rows, png)
    with atomic_write(md) as f:
        f.write("# APIBench scores\n\nAccuracy, hallucination and error (1 - accuracy - hallucination) per response file, "
                "in compat mode (the reference scorer's rules) and strict mode (argument-exact).\n\n")
        f.write(markdown_table(rows))
        f.write(f"\n![scores]({png.name})\n")
    return md, png
