import numpy as np
import pytest

from stargan_tf.labels import (
    AttributeGroup,
    DatasetLabels,
    LabelLayout,
    categorical_labels,
    celeba_style_labels,
)

CELEBA = celeba_style_labels("celeba", ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"])
RAFD = categorical_labels("rafd", ["angry", "happy", "sad"])


def test_celeba_hair_colors_form_one_exclusive_group():
    kinds = [(g.kind, g.names) for g in CELEBA.groups]
    assert kinds == [("exclusive", ("Black_Hair", "Blond_Hair", "Brown_Hair")),
                     ("binary", ("Male",)), ("binary", ("Young",))]
    with pytest.raises(ValueError, match="next to each other"):
        celeba_style_labels("c", ["Black_Hair", "Male", "Blond_Hair"])


def test_single_dataset_has_no_mask():
    layout = LabelLayout((CELEBA,))
    assert layout.num_domains == 5 and layout.label_dim == 5 and not layout.has_mask


def test_joint_layout_appends_a_one_hot_mask():
    layout = LabelLayout((CELEBA, RAFD))
    assert layout.num_domains == 8 and layout.label_dim == 10
    unified = layout.unify(np.array([[0, 1, 0]], "float32"), dataset=1)
    np.testing.assert_array_equal(unified, [[0, 0, 0, 0, 0, 0, 1, 0, 0, 1]])
    np.testing.assert_array_equal(layout.dataset_mask(unified), [[0, 1]])
    assert [s.dataset for s in layout.group_slices()] == [0, 0, 0, 1]


def test_sample_targets_keep_groups_one_hot():
    layout = LabelLayout((CELEBA, RAFD))
    targets = layout.sample_targets(np.random.default_rng(0), 200, dataset=0)
    np.testing.assert_array_equal(targets[:, :3].sum(axis=1), np.ones(200))
    assert set(np.unique(targets[:, 3:5])) == {0.0, 1.0}
    np.testing.assert_array_equal(targets[:, 5:8], 0)
    np.testing.assert_array_equal(targets[:, 8:], [[1, 0]] * 200)
    rafd = layout.sample_targets(np.random.default_rng(1), 50, dataset=1)
    np.testing.assert_array_equal(rafd[:, 5:8].sum(axis=1), np.ones(50))


def test_grid_targets_flip_attributes_and_switch_hair():
    layout = LabelLayout((CELEBA,))
    source = np.array([[1, 0, 0, 1, 0]], "float32")  # black hair, male, not young
    columns = dict(layout.grid_targets(source))
    assert list(columns) == ["Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young"]
    np.testing.assert_array_equal(columns["Blond_Hair"], [[0, 1, 0, 1, 0]])
    np.testing.assert_array_equal(columns["Male"], [[1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(columns["Young"], [[1, 0, 0, 1, 1]])


def test_grid_targets_across_datasets_use_the_other_mask():
    layout = LabelLayout((CELEBA, RAFD))
    source = layout.unify(np.array([[1, 0, 0, 1, 0]], "float32"), 0)
    happy = dict(layout.grid_targets(source))["happy"]
    np.testing.assert_array_equal(happy, [[0, 0, 0, 0, 0, 0, 1, 0, 0, 1]])


def test_targets_across_datasets_are_defined_only_when_complete():
    layout = LabelLayout((CELEBA, RAFD))
    faces = np.concatenate([layout.unify(np.array([[1, 0, 0, 1, 0]], "float32"), 0),
                            layout.unify(np.array([[0, 1, 0]], "float32"), 1)])
    # Choosing an expression fixes RaFD's whole label; "Male" leaves hair color and age unknown.
    assert layout.target_defined(faces, "happy").tolist() == [True, True]
    assert layout.target_defined(faces, "Male").tolist() == [True, False]
    assert layout.target_defined(faces, "Blond_Hair").tolist() == [True, False]
    # A dataset of one binary attribute is fixed by that attribute alone.
    glasses = LabelLayout((celeba_style_labels("glasses", ["Eyeglasses"]), RAFD))
    rafd_face = glasses.unify(np.array([[1, 0, 0]], "float32"), 1)
    assert glasses.target_defined(rafd_face, "Eyeglasses").tolist() == [True]
    single = LabelLayout((CELEBA,))
    assert single.target_defined(np.zeros((3, 5), "float32"), "Male").tolist() == [True] * 3


def test_encode_by_name():
    layout = LabelLayout((CELEBA,))
    base = np.array([1, 0, 0, 1, 1], "float32")
    np.testing.assert_array_equal(layout.encode({"Blond_Hair": 1, "Male": 0}, base), [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(layout.encode({"Young": 0.5}, base), [1, 0, 0, 1, 0.5])
    with pytest.raises(KeyError):
        layout.encode({"Bald": 1})


def test_json_round_trip():
    layout = LabelLayout((CELEBA, RAFD))
    again = LabelLayout.from_json(layout.to_json())
    assert again == layout
    assert layout.to_dict()["mask"] == ["celeba", "rafd"]


def test_invalid_layouts():
    with pytest.raises(ValueError, match="unknown group kind"):
        AttributeGroup("ordinal", ("a",))
    with pytest.raises(ValueError, match="appears twice"):
        LabelLayout((DatasetLabels("a", (AttributeGroup("binary", ("x",)),)),
                     DatasetLabels("b", (AttributeGroup("binary", ("x",)),))))
