from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same Python, NumPy and TensorFlow random state, whatever ran before it."""
    import keras

    keras.utils.set_random_seed(0)


@pytest.fixture
def tiny_config():
    from stargan_tf.config import load_config

    return load_config(ROOT / "configs" / "tiny.yaml")
