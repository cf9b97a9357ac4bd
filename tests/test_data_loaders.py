"""Each on-disk loader on small real-format fixtures written by the synthetic writer."""

import shutil

import numpy as np
import pytest
from PIL import Image

from stargan_tf.config import load_config
from stargan_tf.data import celeba, sources
from stargan_tf.data.pipeline import DataError
from stargan_tf.data.synthetic_writer import CELEBA_ATTRIBUTES
from stargan_tf.data.synthetic_writer import main as write_main
from tests.conftest import ROOT

TINY = ROOT / "configs" / "tiny.yaml"


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    for fmt, num, size in (("celeba", 80, "44x54"), ("rafd", 24, "40"), ("affectnet", 30, "64"),
                           ("folder", 24, "36"), ("csv", 20, "36")):
        assert write_main(["--format", fmt, "--out", str(root / fmt), "--num", str(num), "--size", size]) == 0
    assert write_main(["--format", "rafd", "--out", str(root / "rafd_folders"), "--num", "16", "--size", "40",
                       "--layout", "folders"]) == 0
    return root


def config(*overrides):
    return load_config(TINY, list(overrides))


def examples(source):
    pairs = list(source.examples.as_numpy_iterator())
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def test_celeba_labels_follow_the_attribute_file_and_the_official_partition(fixtures):
    c = config("data.dataset=celeba", f"data.celeba.dir={fixtures / 'celeba'}")
    source = sources.load_source(c)
    names, rows = celeba.read_attribute_file(fixtures / "celeba" / "list_attr_celeba.txt")
    partition = celeba.read_partition(fixtures / "celeba" / "list_eval_partition.txt")
    columns = [names.index(a) for a in c.data.attributes]
    expected_train = {tuple(float(v[i] > 0) for i in columns) for n, v in rows if partition[n] != "2"}
    images, labels = examples(source)
    assert source.num_examples == sum(p != "2" for p in partition.values()) == len(images)
    assert images.shape[1:] == (32, 32, 3) and images.dtype == np.uint8
    assert {tuple(row) for row in labels} <= expected_train
    # Hair colors stay one-hot or empty, as in the attribute file.
    assert labels[:, :3].sum(axis=1).max() <= 1
    assert source.sample_images.shape == (3, 32, 32, 3) and source.sample_labels.shape == (3, 5)


def test_celeba_split_without_partition_holds_out_a_capped_random_subset(fixtures, tmp_path):
    root = tmp_path / "celeba"
    shutil.copytree(fixtures / "celeba", root)
    (root / "list_eval_partition.txt").unlink()
    c = config("data.dataset=celeba", f"data.celeba.dir={root}")
    assert sources.load_source(c).num_examples == 80 - 8  # 10% of a small dataset, not 2,000
    c = config("data.dataset=celeba", f"data.celeba.dir={root}", "data.test_size=3")
    assert sources.load_source(c).num_examples == 77


def test_celeba_unknown_attribute_lists_the_valid_ones(fixtures):
    c = config("data.dataset=celeba", f"data.celeba.dir={fixtures / 'celeba'}", "data.attributes=Male,Purple_Hair")
    with pytest.raises(DataError, match="'Purple_Hair' is not in .*valid: 5_o_Clock_Shadow.*Young"):
        sources.load_source(c)


@pytest.mark.parametrize("damage, message", [
    ("no_dir", "CelebA directory not found"),
    ("no_images", "img_align_celeba"),
    ("no_attr", "attribute file not found"),
    ("short_row", "line 4: 39 values for 40 attributes"),
    ("bad_count", "announces 81 images"),
    ("foreign_rows", "none of the images listed"),
])
def test_celeba_bad_directories_and_label_files(fixtures, tmp_path, damage, message):
    root = tmp_path / "celeba"
    shutil.copytree(fixtures / "celeba", root)
    attr = root / "list_attr_celeba.txt"
    lines = attr.read_text().splitlines()
    if damage == "no_dir":
        shutil.rmtree(root)
    elif damage == "no_images":
        shutil.rmtree(root / "img_align_celeba")
    elif damage == "no_attr":
        attr.unlink()
    elif damage == "short_row":
        lines[3] = lines[3].rsplit(" ", 1)[0]
    elif damage == "bad_count":
        lines[0] = "81"
    elif damage == "foreign_rows":
        lines[2:] = [line.replace(".jpg", ".png") for line in lines[2:]]
    if attr.exists():
        attr.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=message):
        sources.load_source(config("data.dataset=celeba", f"data.celeba.dir={root}"))


def test_celeba_tfds_download_failure_explains_the_raw_alternative(monkeypatch):
    tfds = pytest.importorskip("tensorflow_datasets")

    def failing_builder(*args, **kwargs):
        raise tfds.download.DownloadError("Failed to get url https://drive.google.com/...: quota exceeded")

    monkeypatch.setattr(tfds, "builder", failing_builder)
    with pytest.raises(DataError, match="Google Drive.*quota.*--celeba-dir"):
        sources.load_source(config("data.dataset=celeba", "data.celeba.source=tfds"))


def test_celeba_summary_needs_no_data():
    layout = sources.layout_for(config("data.dataset=celeba"))
    assert layout.num_domains == 5 and layout.label_dim == 5
    assert set(load_config(None).data.attributes) <= set(CELEBA_ATTRIBUTES)


@pytest.mark.parametrize("folder", ["rafd", "rafd_folders"])
def test_rafd_expression_comes_from_the_name_or_the_folder(fixtures, folder):
    source = sources.load_source(config("data.dataset=rafd", f"data.rafd.dir={fixtures / folder}"))
    _, labels = examples(source)
    assert source.num_examples == len(labels) == (22 if folder == "rafd" else 15)  # 10% held out
    assert np.all(labels.sum(axis=1) == 1)
    files = sorted((fixtures / folder).rglob("*.jpg"))
    expected = {sources.RAFD_EXPRESSIONS.index(f.stem.split("_")[4]) for f in files}
    assert set(labels.argmax(axis=1)) | set(source.sample_labels.argmax(axis=1)) == expected


def test_rafd_angle_filter(fixtures, tmp_path):
    root = tmp_path / "rafd"
    shutil.copytree(fixtures / "rafd", root)
    for f in sorted(root.glob("Rafd090_01_*")):
        f.rename(root / f.name.replace("Rafd090", "Rafd045"))
    c = config("data.dataset=rafd", f"data.rafd.dir={root}", "data.rafd.angles=[90]")
    assert sources.load_source(c).num_examples == 16 - 1
    c = config("data.dataset=rafd", f"data.rafd.dir={root}", "data.rafd.angles=[180]")
    with pytest.raises(DataError, match="camera angles"):
        sources.load_source(c)


def test_affectnet_skips_non_expressions_and_crops_the_face_box(fixtures):
    root = fixtures / "affectnet"
    c = config("data.dataset=affectnet", f"data.affectnet.dir={root / 'Manually_Annotated_Images'}",
               f"data.affectnet.csv={root / 'training.csv'}", "data.test_size=1")
    source = sources.load_source(c)
    assert source.num_examples == 30 - 3 - 1  # three rows have expression >= 8, one held out
    from stargan_tf.data.affectnet import affectnet_records
    from stargan_tf.data.images import crop_box

    record = affectnet_records(c)[0]
    x, y, w, h = record.box
    with Image.open(record.path) as image:
        assert crop_box(*image.size, 0, record.box) == [y, x, h, w]  # square boxes stay as they are
        expected = np.asarray(image.convert("RGB").crop((x, y, x + w, y + h)).resize((32, 32), Image.BILINEAR))
    from stargan_tf.data.images import decode_examples

    decoded = next(decode_examples([record.path], record.labels[None], [[y, x, h, w]], [False], 32)
                   .as_numpy_iterator())[0]
    assert np.abs(decoded.astype(int) - expected.astype(int)).mean() < 8


def test_image_folder_is_one_hot_with_sorted_domain_names(fixtures):
    c = config("data.dataset=folder", f"data.folder.dir={fixtures / 'folder'}")
    layout = sources.layout_for(c)
    assert layout.domain_names == ("black", "blond", "brown")
    assert layout.datasets[0].groups[0].kind == "categorical"
    _, labels = examples(sources.load_source(c))
    assert np.all(labels.sum(axis=1) == 1)


def test_label_file_is_multi_label_and_accepts_minus_one(fixtures, tmp_path):
    root = fixtures / "csv"
    minus = tmp_path / "labels.txt"
    lines = (root / "labels.csv").read_text().splitlines()
    minus.write_text("\n".join([lines[0].replace(",", " ")]
                               + [line.replace(",0", ",-1").replace(",", "  ") for line in lines[1:]]) + "\n")
    for labels_file in (root / "labels.csv", minus):
        c = config("data.dataset=folder", f"data.folder.dir={root}", f"data.folder.labels_file={labels_file}")
        layout = sources.layout_for(c)
        assert layout.domain_names == ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
        assert all(g.kind == "binary" for g in layout.datasets[0].groups)
        _, labels = examples(sources.load_source(c))
        assert set(np.unique(labels)) == {0.0, 1.0} and len(labels) == 18


@pytest.mark.parametrize("content, message", [
    ("filename,a,b\nimages/00000.png,1\n", "line 2: 1 values for 2 attributes"),
    ("filename,a,b\nimages/00000.png,1,2\n", "0/1 or -1/1"),
    ("filename,a,b\nnope.png,1,0\n", "none of the images listed"),
    ("", "is empty"),
])
def test_bad_label_files(fixtures, tmp_path, content, message):
    labels = tmp_path / "labels.csv"
    labels.write_text(content)
    c = config("data.dataset=folder", f"data.folder.dir={fixtures / 'csv'}", f"data.folder.labels_file={labels}")
    with pytest.raises(DataError, match=message):
        sources.load_source(c)


def test_missing_directories_are_data_errors(tmp_path):
    for dataset, key in (("rafd", "rafd.dir"), ("affectnet", "affectnet.dir"), ("folder", "folder.dir")):
        with pytest.raises(DataError, match="not found"):
            sources.load_source(config(f"data.dataset={dataset}", f"data.{key}={tmp_path / 'nope'}"))
        with pytest.raises(DataError, match="no .*directory: pass --"):
            sources.load_source(config(f"data.dataset={dataset}"))
