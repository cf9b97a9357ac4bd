"""StarGAN (Choi et al., CVPR 2018) in TensorFlow 2 / Keras 3."""

import os
import sys

__version__ = "0.1.0"


def _import_tensorflow_quietly() -> None:
    """Imports TensorFlow without its native start-up chatter on stderr.

    TensorFlow's C++ runtime prints lines (CPU-only notices, oneDNN notices)
    before its log level takes effect, which would bury the one-line errors
    of the command-line tools. Set STARGAN_TF_VERBOSE=1 to see them, or
    TF_CPP_MIN_LOG_LEVEL to choose the native log level (default here: 3).
    """
    if "tensorflow" in sys.modules or os.environ.get("STARGAN_TF_VERBOSE"):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr descriptor (embedded interpreters)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    sys.stderr.flush()
    os.dup2(devnull, 2)
    try:
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


_import_tensorflow_quietly()
