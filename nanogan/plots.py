"""Training curves from the per-epoch metrics (matplotlib, no screen needed)."""
import matplotlib

matplotlib.use("Agg")  # draw to files only; works on a machine with no display
import matplotlib.pyplot as plt  # noqa: E402

from .files import atomic_open  # noqa: E402


def plot_curves(path, rows, title=""):
    """rows: the metrics CSV as dicts. Left: D and G loss per epoch. Middle: the mean
    D(x) and D(G(z)), and D's accuracy on real and fake, per epoch. Right, where the
    run was evaluated: the Fréchet distance and the class entropy of its samples."""
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
        c2.set_ylim(0, 1.05), c2.set_ylabel("class entropy / log 10")
        c.legend(handles=c.lines + c2.lines, fontsize=8, loc="center right")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
