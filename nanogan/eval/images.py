"""Turning generator outputs into pictures: uint8 digits, grids, PNG and GIF files."""
import warnings

import numpy as np

from ..backend import to_host
from ..files import atomic_open, open_regular

MAX_PICTURE_BYTES = 16 * 2**20     # a grid PNG is a few tens of KB
MAX_PIXELS = 4096 * 4096           # a grid is 2 * (10 * 30 + 2) pixels a side at most


def to_uint8(images):
    """Images in [-1, 1], shape (N, 1, H, W) or (N, H, W), any device -> uint8 (N, H, W) on the host."""
    x = to_host(images).reshape(len(images), *images.shape[-2:])
    return np.clip(np.rint((x.astype(np.float32) + 1) * 127.5), 0, 255).astype(np.uint8)


def grid(images, ncols=None, pad=2):
    """uint8 (N, H, W) -> one uint8 picture (rows*(H+pad)+pad, ncols*(W+pad)+pad) with a
    dark border between tiles; ncols defaults to a square-ish layout."""
    n, h, w = images.shape
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad), 40, dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, ncols)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = images[k]
    return out


def save_png(path, picture, scale=2):
    """Write a uint8 grayscale picture as PNG, each pixel drawn scale x scale."""
    from PIL import Image  # Pillow comes with matplotlib
    img = Image.fromarray(np.kron(picture, np.ones((scale, scale), dtype=np.uint8)), mode="L")
    with atomic_open(path) as f:
        img.save(f, format="PNG")


def save_gif(path, pictures, ms_per_frame=400):
    """Write equally sized uint8 pictures as a looping animated GIF (the last frame lingers)."""
    from PIL import Image
    frames = [Image.fromarray(p, mode="L") for p in pictures]
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 5]
    with atomic_open(path) as f:
        frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:],
                       duration=durations, loop=0)


def read_picture(path, what="picture"):
    """A PNG (or GIF) written by save_png, as a uint8 grayscale array. Only a regular file
    of at most MAX_PICTURE_BYTES is opened (files.open_regular), and only a picture of at
    most MAX_PIXELS is decoded: a small PNG's header can promise 20000 x 20000 pixels (a
    "decompression bomb"). Raises NanoganError, OSError or ValueError for anything else."""
    from PIL import Image
    with open_regular(path, what, MAX_PICTURE_BYTES) as f, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(f) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ValueError(f"{im.width} x {im.height} pixels is more than a grid has")
                return np.asarray(im.convert("L"))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ValueError(str(e)) from None
