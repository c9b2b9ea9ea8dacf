"""Gallery pictures: which samples are picked, and where each lands in the PNG."""
import numpy as np
from PIL import Image

from nanogan.eval.galleries import most_and_least_sure, pair_tiles, save_gallery, save_pairs


def test_most_and_least_sure():
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8], [0.99, 0.01], [0.5, 0.5], [0.3, 0.7]])
    surest, least = most_and_least_sure(probs, n=3)
    assert surest.tolist() == [3, 1, 2] and least.tolist() == [0, 4, 5], (surest, least)
    assert surest.dtype == least.dtype == np.int64
    surest, least = most_and_least_sure(probs, n=100)            # no more than there are
    assert len(surest) == len(least) == 6


def read_png(path):
    with Image.open(path) as im:
        return np.asarray(im)


def test_gallery_puts_the_images_in_order(tmp_path):
    images = np.stack([np.full((28, 28), 10 * k, np.uint8) for k in range(6)])   # image k: grey 10k
    save_gallery(tmp_path / "g.png", images, [5, 0, 3], ncols=2)
    png = read_png(tmp_path / "g.png")                            # 2 x 2 tiles, drawn 2x
    assert png.shape == (2 * (2 * 30 + 2), 2 * (2 * 30 + 2)), png.shape
    tile = lambda r, c: png[2 * (2 + 30 * r) + 10, 2 * (2 + 30 * c) + 10]   # noqa: E731  (inside tile r, c)
    assert [tile(0, 0), tile(0, 1), tile(1, 0)] == [50, 0, 30], [tile(0, 0), tile(0, 1), tile(1, 0)]
    floats = images.astype(np.float32)[:, None] / 127.5 - 1      # the same in [-1, 1], (N, 1, 28, 28)
    save_gallery(tmp_path / "f.png", floats, [5, 0, 3], ncols=2)
    np.testing.assert_array_equal(read_png(tmp_path / "f.png"), png)


def test_pairs_put_each_sample_left_of_its_neighbour(tmp_path):
    left = np.full((3, 28, 28), 200, np.uint8)
    right = np.full((3, 28, 28), 100, np.uint8)
    tiles = pair_tiles(left, right)
    assert tiles.shape == (3, 28, 58) and tiles.dtype == np.uint8
    assert (tiles[:, :, :28] == 200).all() and (tiles[:, :, 30:] == 100).all() and (tiles[:, :, 28:30] == 40).all()

    samples = np.stack([np.full((28, 28), k, np.uint8) for k in (1, 2, 3)])
    train = np.stack([np.full((28, 28), 100 + k, np.uint8) for k in range(10)])
    save_pairs(tmp_path / "p.png", samples, train, nearest_index=[7, 4, 9], order=[2, 0], ncols=1)
    png = read_png(tmp_path / "p.png")                            # two pairs, one per row, drawn 2x
    assert png.shape == (2 * (2 * 36 + 8), 2 * (58 + 16)), png.shape
    at = lambda row, x: png[2 * (8 + 36 * row) + 10, 2 * (8 + x)]  # noqa: E731
    assert [at(0, 5), at(0, 40), at(1, 5), at(1, 40)] == [3, 109, 1, 107]
