import numpy as np

from stargan_tf.grid import HEADER_HEIGHT, domain_grid
from stargan_tf.labels import LabelLayout, categorical_labels, celeba_style_labels

LAYOUT = LabelLayout((celeba_style_labels("celeba", ["Black_Hair", "Blond_Hair", "Male"]),
                      categorical_labels("rafd", ["angry", "happy"])))


def test_domain_grid_leaves_incomplete_requests_blank():
    labels = np.concatenate([LAYOUT.unify(np.array([[1, 0, 1]], "float32"), 0),
                             LAYOUT.unify(np.array([[0, 1]], "float32"), 1)])
    images = np.full((2, 4, 4, 3), -1.0, np.float32)  # black faces, translated to black
    grid = domain_grid(lambda x, c: np.asarray(x), images, labels, LAYOUT)
    assert grid.shape == (HEADER_HEIGHT + 2 * 4, 6 * 4, 3)

    def tile(row, column):
        return grid[HEADER_HEIGHT + row * 4: HEADER_HEIGHT + (row + 1) * 4, column * 4: (column + 1) * 4]

    # Columns: input, Black_Hair, Blond_Hair, Male, angry, happy.
    for column in range(6):
        assert (tile(0, column) == 0).all()  # the CelebA-like face: every target is a request
    for column, blank in enumerate([False, True, True, True, False, False]):
        assert (tile(1, column) == 255).all() == blank and (tile(1, column) == 0).all() == (not blank)
