from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tiny_config():
    from stargan_tf.config import load_config

    return load_config(ROOT / "configs" / "tiny.yaml")
