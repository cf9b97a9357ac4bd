"""Photo loading: formats, EXIF orientation, color modes, limits, cropping and paste-back."""

import numpy as np
import pytest
from PIL import Image, ImageFile

from stargan_tf.photo_io import (
    Box,
    PhotoError,
    center_square,
    crop_and_resize,
    list_photos,
    load_photo,
    paste_back,
)


def gradient(width=40, height=30):
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    return np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                           np.full((height, width, 1), 128.0)], axis=2).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp", ".tif"])
def test_formats_load_as_rgb_uint8(tmp_path, suffix):
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(gradient()).save(path)
    photo = load_photo(path)
    assert photo.shape == (30, 40, 3) and photo.dtype == np.uint8
    assert np.abs(photo.astype(int) - gradient().astype(int)).mean() < 8  # lossy formats are close


def test_color_modes_are_converted(tmp_path):
    gray = np.tile(np.arange(32, dtype=np.uint8)[None] * 8, (20, 1))
    Image.fromarray(gray).save(tmp_path / "gray.png")
    out = load_photo(tmp_path / "gray.png")
    assert out.shape == (20, 32, 3) and (out[..., 0] == gray).all() and (out[..., 2] == gray).all()

    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :10, 3] = 255  # left opaque red, right transparent
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    out = load_photo(tmp_path / "rgba.png")
    assert tuple(out[5, 2]) == (200, 0, 0) and tuple(out[5, 15]) == (255, 255, 255)

    Image.fromarray(gradient()).convert("CMYK").save(tmp_path / "cmyk.jpg")
    assert load_photo(tmp_path / "cmyk.jpg").shape == (30, 40, 3)

    Image.fromarray(gradient()).convert("P").save(tmp_path / "palette.png")
    assert load_photo(tmp_path / "palette.png").shape == (30, 40, 3)

    deep = np.full((20, 20), 65535, np.uint16)
    deep[:, :10] = 257 * 100
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out = load_photo(tmp_path / "deep.png")
    assert tuple(out[0, 0]) == (100, 100, 100) and tuple(out[0, 15]) == (255, 255, 255)


def test_exif_orientation_is_honored(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # stored: red on the left of a landscape image
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    out = load_photo(tmp_path / "rotated.jpg")
    assert out.shape == (40, 20, 3)  # displayed as a portrait
    assert out[5, 10, 0] > 200 and out[35, 10, 0] < 60  # red now on top


def test_bad_files_raise_one_line_errors(tmp_path):
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(PhotoError, match="not a readable image"):
        load_photo(tmp_path / "text.jpg")
    with pytest.raises(PhotoError, match="no such file"):
        load_photo(tmp_path / "missing.png")
    Image.fromarray(gradient(200, 200)).save(tmp_path / "full.jpg")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "full.jpg").read_bytes()[:400])
    with pytest.raises(PhotoError, match="cannot decode"):
        load_photo(tmp_path / "cut.jpg")
    Image.fromarray(gradient(40, 10)).save(tmp_path / "tiny.png")
    with pytest.raises(PhotoError, match="at least 16 px"):
        load_photo(tmp_path / "tiny.png")
    Image.fromarray(gradient()).save(tmp_path / "gif.gif")
    with pytest.raises(PhotoError, match="not a readable image"):
        load_photo(tmp_path / "gif.gif")


def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    Image.fromarray(gradient(100, 100)).save(tmp_path / "big.png")

    def no_decoding(self):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(PhotoError, match="over the limit of 5,000"):
        load_photo(tmp_path / "big.png", max_pixels=5_000)


def test_crop_resize_and_paste_back():
    photo = gradient(60, 40)
    assert center_square(60, 40) == Box(10, 0, 40, 40)
    face, box = crop_and_resize(photo, 32)
    assert face.shape == (32, 32, 3) and box == Box(10, 0, 40, 40)
    face, box = crop_and_resize(photo, 32, Box.parse("5,4,20,30"))
    assert face.shape == (32, 32, 3)
    edited = np.zeros_like(face)
    out = paste_back(photo, edited, box)
    assert out.shape == photo.shape
    outside = np.ones(photo.shape[:2], bool)
    outside[4:34, 5:25] = False
    assert (out[outside] == photo[outside]).all()
    assert (out[19, 15] == 0).all()  # the box's inside is the edited face
    with pytest.raises(PhotoError, match="outside"):
        crop_and_resize(photo, 32, Box(50, 0, 20, 20))
    with pytest.raises(PhotoError, match="too small"):
        crop_and_resize(photo, 32, Box(0, 0, 8, 8))
    for text in ("1,2,3", "a,b,c,d", "0,0,0,10", "-1,0,10,10"):
        with pytest.raises(PhotoError):
            Box.parse(text)


def test_list_photos(tmp_path):
    for name in ("b.jpg", "a.PNG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_photos([tmp_path])] == ["a.PNG", "b.jpg"]
    # Missing files stay in the list so a batch reports them with the other bad files.
    assert [p.name for p in list_photos([tmp_path / "gone.jpg"])] == ["gone.jpg"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(PhotoError, match="no photos"):
        list_photos([tmp_path / "empty"])
