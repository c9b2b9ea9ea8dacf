"""Training curves from the per-epoch metrics (matplotlib, no screen needed)."""
import matplotlib

matplotlib.use("Agg")  # draw to files only; works on a machine with no display
import matplotlib.pyplot as plt  # noqa: E402

from .files import atomic_open  # noqa: E402


def plot_curves(path, rows, title=""):
    """rows: the metrics CSV as dicts. Left: D and G loss per epoch. Right: the mean
    D(x) and D(G(z)), and D's accuracy on real and fake, per epoch."""
    epoch = [int(r["epoch"]) for r in rows]
    col = lambda name: [float(r[name]) for r in rows]  # noqa: E731
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(epoch, col("d_loss"), "o-", label="D loss")
    a.plot(epoch, col("g_loss"), "o-", label="G loss")
    a.set_xlabel("epoch"), a.set_ylabel("BCE"), a.legend(), a.grid(alpha=0.3)
    b.plot(epoch, col("d_real"), "o-", label="D(x)")
    b.plot(epoch, col("d_fake"), "o-", label="D(G(z))")
    b.plot(epoch, col("acc_real"), "--", label="D accuracy, real")
    b.plot(epoch, col("acc_fake"), "--", label="D accuracy, fake")
    b.set_xlabel("epoch"), b.set_ylim(0, 1), b.legend(fontsize=8), b.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_open(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
