"""A one-line progress bar for an epoch, on stderr, redrawn at most four times a second."""
import sys
import time


class Progress:
    def __init__(self, enabled, epoch, epochs, total):
        self.enabled, self.epoch, self.epochs, self.total = enabled, epoch, epochs, total
        self.last = 0.0

    def update(self, done, d_loss, g_loss, images_per_second):
        """`done` of `total` steps, with the epoch's mean losses so far (host floats)."""
        now = time.perf_counter()
        if not self.enabled or (now - self.last < 0.25 and done < self.total):
            return
        self.last = now
        bar = "#" * (20 * done // self.total)
        sys.stderr.write(f"\repoch {self.epoch}/{self.epochs} [{bar:<20}] {done}/{self.total}  "
                         f"D {d_loss:.3f}  G {g_loss:.3f}  {images_per_second:.0f} img/s ")
        sys.stderr.flush()

    def close(self):
        if self.enabled:
            sys.stderr.write("\r" + " " * 100 + "\r")
