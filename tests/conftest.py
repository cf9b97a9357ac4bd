import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_config():
    from stargan_tf.config import load_config

    return load_config(ROOT / "configs" / "tiny.yaml")
