"""Deployment: SavedModel for TF Serving, LiteRT (.tflite) files, and their clients.

    python -m export.saved_model --run-dir RUN --out models/
    python -m export.tflite --run-dir RUN --out stargan.tflite --quantize float16
    python -m export.serving_client --server localhost:8500 --model stargan --input face.jpg --target Blond_Hair \\
        --output out.png
    python -m export.tflite_app --model stargan.tflite --input face.jpg --expression happy --output out.png

Every exported model carries the same metadata (see `saved_model.model_metadata`): the label
layout, the image size and the input normalization, so clients build labels by domain name.
"""
