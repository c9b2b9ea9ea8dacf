"""Training curves from the per-epoch metrics, and class-coverage bars (matplotlib, no screen needed).

    python -m nanogan.eval.plots coverage.png "plain=plain.json" "minibatch disc.=mbd.json"

draws the predicted-digit shares of several runs side by side, from the JSON files that
`python train.py --evaluate CKPT --eval-json FILE` writes, and

    python -m nanogan.eval.plots race.png "fc=runs/fc/metrics.csv" "dcgan=runs/dcgan/metrics.csv"

draws each run's Fréchet distance (scored during training) against its training time, from
the runs' metrics.csv: which GAN is better after the same minutes, not the same epochs. It
also prints the same numbers as a Markdown table, one column per minute of --minutes.
"""
import argparse
import csv
import io
import sys

import matplotlib

matplotlib.use("Agg")  # draw to files only; works on a machine with no display
import matplotlib.pyplot as plt  # noqa: E402

from ..command import Parser, main as run_command  # noqa: E402
from ..errors import NanoganError  # noqa: E402
from ..files import atomic_open, parse_json, read_regular, shown  # noqa: E402
from .metrics import MIN_SHARE  # noqa: E402

MAX_BYTES = 16 * 2**20   # a metrics.csv or scores JSON is a few kB


def plot_curves(path, rows, title=""):
    """rows: the metrics CSV as dicts. Left: D and G loss per epoch. Middle: the mean
    D(x) and D(G(z)), and D's accuracy on real and fake, per epoch. Right, where the
    run was evaluated: the Fréchet distance of its samples (log scale) and, on a 0-1
    scale, their class entropy and, where the rows have them, precision and recall
    (empty strings in the epochs that were not scored)."""
    epoch = [int(r["epoch"]) for r in rows]
    col = lambda name: [float(r[name]) for r in rows]  # noqa: E731
    scored = [r for r in rows if r.get("frechet")]
    fig, axes = plt.subplots(1, 3 if scored else 2, figsize=(15 if scored else 10, 3.6))
    a, b = axes[:2]
    a.plot(epoch, col("d_loss"), "o-", label="D loss")
    a.plot(epoch, col("g_loss"), "o-", label="G loss")
    a.set_xlabel("epoch"), a.set_ylabel("BCE"), a.legend(), a.grid(alpha=0.3)
    b.plot(epoch, col("d_real"), "o-", label="D(x)")
    b.plot(epoch, col("d_fake"), "o-", label="D(G(z))")
    b.plot(epoch, col("acc_real"), "--", label="D accuracy, real")
    b.plot(epoch, col("acc_fake"), "--", label="D accuracy, fake")
    b.set_xlabel("epoch"), b.set_ylim(0, 1), b.legend(fontsize=8), b.grid(alpha=0.3)
    if scored:
        c, e = axes[2], [int(r["epoch"]) for r in scored]
        c.plot(e, [float(r["frechet"]) for r in scored], "o-", color="C3", label="Fréchet distance")
        c.set_xlabel("epoch"), c.set_ylabel("Fréchet distance (lower is better)"), c.grid(alpha=0.3)
        c.set_yscale("log")
        c2 = c.twinx()
        c2.plot(e, [float(r["entropy"]) for r in scored], "s--", color="C4", label="class entropy / log 10")
        ylabel = "class entropy / log 10"
        for name, style, colour in (("precision", "^:", "C0"), ("recall", "v:", "C2")):
            have = [r for r in rows if r.get(name)]  # runs from before precision and recall have none
            if have:
                c2.plot([int(r["epoch"]) for r in have], [float(r[name]) for r in have], style,
                        color=colour, label=name)
                ylabel += f", {name}"
        c2.set_ylim(0, 1.05), c2.set_ylabel(ylabel)
        c.legend(handles=c.lines + c2.lines, fontsize=8, loc="center right")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


def plot_coverage(path, runs, title=""):
    """runs: [(label, counts)], counts the 10 predicted-digit counts of one run's samples.
    Grouped bars of each digit's share of the samples, with the 10% of a uniform
    generator and the 5% under which a digit counts as not covered: a generator
    that has collapsed onto a few digits shows as a few tall bars and several short ones."""
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / len(runs)
    for i, (label, counts) in enumerate(runs):
        total = sum(counts)
        ax.bar([d - 0.4 + width * (i + 0.5) for d in range(10)], [c / total for c in counts],
               width, label=label)
    ax.axhline(0.10, color="k", lw=0.8, ls="--", label="uniform, 10%")
    ax.axhline(MIN_SHARE, color="C3", lw=0.8, ls=":", label=f"covered from {MIN_SHARE:.0%}")
    ax.set_xticks(range(10)), ax.set_xlabel("digit the classifier sees"), ax.set_ylabel("share of samples")
    ax.legend(fontsize=8), ax.grid(alpha=0.3, axis="y"), ax.set_title(title)
    fig.tight_layout()
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


def race_points(rows):
    """A run's metrics CSV rows -> ([training minutes at the end of each scored epoch], [its
    Fréchet distance]): the `seconds` column summed up to that epoch, training only, not the
    scoring. Epochs that were not scored (empty `frechet`) add their minutes and no point."""
    minutes, fd, total = [], [], 0.0
    for r in rows:
        total += float(r["seconds"]) / 60
        if r.get("frechet"):
            minutes.append(total), fd.append(float(r["frechet"]))
    return minutes, fd


def plot_race(path, runs, title=""):
    """runs: [(label, rows)], rows a run's metrics CSV as dicts. The Fréchet distance of
    each scored epoch (log scale) against the training minutes summed up to it, one line per run.
    Runs whose labels agree up to their last comma ("dcgan, seed 0", "dcgan, seed 1") are one
    recipe: they share a colour and differ in marker."""
    fig, ax = plt.subplots(figsize=(7, 3.8))
    colours, seen = {}, {}
    for label, rows in runs:
        group = label.rsplit(",", 1)[0]
        colours.setdefault(group, f"C{len(colours) % 10}")
        seen[group] = seen.get(group, -1) + 1
        ax.plot(*race_points(rows), "-", marker="osD^v<>"[seen[group] % 7], ms=3, color=colours[group], label=label)
    ax.set_yscale("log"), ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("Fréchet distance (lower is better)"), ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8), ax.set_title(title)
    fig.tight_layout()
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)


def race_table(runs, minutes):
    """The race as a Markdown table: for each run and each of `minutes`, the Fréchet distance
    of the last scored epoch that had finished by then ("—" before the first), to one decimal
    (none from 100 up). The cell holds what a user who stopped the run at that minute would
    have had, so a run whose next epoch ends just after the minute does not get its credit."""
    lines = ["| minutes of training | " + " | ".join(f"{m:g}" for m in minutes) + " |",
             "|---" * (len(minutes) + 1) + "|"]
    for label, rows in runs:
        done, fd = race_points(rows)
        cells = []
        for m in minutes:
            have = [f for t, f in zip(done, fd) if t <= m]
            cells.append("—" if not have else f"{have[-1]:.1f}" if have[-1] < 100 else f"{have[-1]:.0f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _race(args, specs):
    runs = []
    for label, path in specs:
        try:
            rows = list(csv.DictReader(io.StringIO(read_regular(path, "metrics file", MAX_BYTES).decode())))
            if not rows:
                raise ValueError("it has no epochs")
            race_points(rows)                           # every row's seconds and scores are numbers
        except (NanoganError, OSError, ValueError, KeyError, csv.Error) as e:
            raise NanoganError(f"cannot read a run's metrics from {shown(path)}: {_why(e)}") from None
        runs.append((label, rows))
    plot_race(args.out, runs, args.title)
    longest = max(sum(float(r["seconds"]) for r in rows) for _, rows in runs) / 60
    minutes = args.minutes or list(range(1, int(longest) + 1)) or [round(longest, 2)]
    print(race_table(runs, minutes))
    return 0


def _minutes(text):
    try:
        minutes = [float(m) for m in text.split(",")]
    except ValueError:
        minutes = []
    if not minutes or not all(0 < m < 1e6 for m in minutes):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of positive minutes")
    return minutes


def _why(error):
    """What went wrong reading a file, for one error line: a NanoganError says it already."""
    return shown(str(error)) if isinstance(error, NanoganError) else f"{type(error).__name__}: {shown(str(error))}"


def main(argv=None):
    p = Parser(prog="python -m nanogan.eval.plots",
               description="Bar chart of the predicted-digit shares of evaluated runs "
               "(FILE.json), or their Fréchet distance against training time (FILE.csv).")
    p.add_argument("out", help="PNG to write")
    p.add_argument("runs", nargs="+", metavar="LABEL=FILE",
                   help="a label and the JSON written by evaluate.py ... --json, "
                   "or a run's metrics.csv")
    p.add_argument("--title", default="")
    p.add_argument("--minutes", type=_minutes, metavar="M,M,...",
                   help="for metrics.csv files: the minutes of the printed table (default: every whole minute)")
    args = p.parse_args(argv)
    specs = []
    for spec in args.runs:
        label, sep, path = spec.rpartition("=")
        if not sep or not label:
            p.error(f"{spec!r} is not LABEL=FILE")
        specs.append((label, path))
    if all(path.lower().endswith(".csv") for _, path in specs):
        return _race(args, specs)
    runs = []
    for label, path in specs:
        try:
            counts = parse_json(read_regular(path, "scores file", MAX_BYTES).decode())["counts"]
        except (NanoganError, OSError, ValueError, KeyError, TypeError) as e:
            raise NanoganError(f"cannot read predicted-class counts from {shown(path)}: {_why(e)}") from None
        if not (isinstance(counts, list) and len(counts) == 10 and sum(counts) > 0
                and all(isinstance(c, int) and c >= 0 for c in counts)):
            raise NanoganError(f"{shown(path)}: 'counts' must be 10 non-negative integers, not all zero.")
        runs.append((label, counts))
    plot_coverage(args.out, runs, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
