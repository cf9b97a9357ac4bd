"""Each metric on hand-made inputs with known answers."""

import numpy as np
import pytest

from stargan_tf.config import load_config
from stargan_tf.data import synthetic
from stargan_tf.data.sources import layout_for
from stargan_tf.metrics import fid, ground_truth
from stargan_tf.metrics.classifier import decide, domain_accuracy
from stargan_tf.metrics.image_metrics import PSNR_CAP_DB, l1_per_image, mean_l1, mean_psnr, psnr_per_image
from stargan_tf.metrics.translation import evaluate_translations, kept_hits, target_hits
from tests.conftest import ROOT


@pytest.fixture
def joint_config():
    return load_config(ROOT / "configs" / "tiny_both.yaml")


def test_l1_and_psnr_known_values():
    a = np.zeros((2, 4, 4, 3))
    b = np.full((2, 4, 4, 3), 0.5)
    assert np.allclose(l1_per_image(a, b), 0.5)
    # MSE 0.25 on a peak-to-peak range of 2: 10 log10(4 / 0.25) = 12.04 dB
    assert np.allclose(psnr_per_image(a, b), 10 * np.log10(16.0))
    assert mean_psnr(a, a) == PSNR_CAP_DB  # identical images: the documented cap, not inf
    assert mean_l1(a, a) == 0.0


def test_l1_with_mask_ignores_other_pixels():
    a = np.zeros((1, 2, 2, 3))
    b = a.copy()
    b[0, 0, 0] = 2.0  # one very wrong pixel
    mask = np.ones((1, 2, 2), bool)
    mask[0, 0, 0] = False
    assert mean_l1(a, b, mask) == 0.0
    assert np.isclose(mean_l1(a, b), 2.0 / 4)
    with pytest.raises(ValueError):
        l1_per_image(a, b[:, :1])


def test_frechet_distance_of_gaussians():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    eye = np.eye(3)
    assert np.isclose(fid.frechet_distance(mu1, eye, mu2, eye), 9.0)  # ||mu1 - mu2||^2
    # Same mean, covariances I and 4I: Tr(I + 4I - 2 * 2I) = 3
    assert np.isclose(fid.frechet_distance(mu1, eye, mu1, 4 * eye), 3.0)


def test_feature_distances_of_a_set_against_itself_are_zero():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(4 * 4 * 3, 16))
    # A small random projection that the test constructs: never called FID.
    extractor = fid.FeatureExtractor(lambda images: np.tanh(images.reshape(len(images), -1) @ weights), "random")
    images = rng.uniform(-1, 1, (64, 4, 4, 3))
    features = extractor(images, batch_size=10)
    assert features.shape == (64, 16)
    assert fid.frechet_distance_of(features, features) < 1e-6
    # KID is unbiased: two samples of one distribution score ~0, another distribution clearly more.
    same = extractor(rng.uniform(-1, 1, (64, 4, 4, 3)))
    other = extractor(rng.uniform(-1, 1, (64, 4, 4, 3)) * 0.2 + 0.5)
    assert abs(fid.kernel_distance(features, same, subsets=5)[0]) < 0.01
    assert fid.kernel_distance(features, other, subsets=5)[0] > 0.1
    assert fid.frechet_distance_of(features, other) > 0.1
    assert fid.distance_names(extractor) == ("frechet_distance[random]", "kernel_distance[random]")


def test_kernel_distance_known_value():
    # 1-d features, k(a, b) = (a b + 1)^3: k(0, 0) = 1, k(1, 1) = 8, k(0, 1) = 1 -> MMD^2 = 1 + 8 - 2 = 7
    kid, std = fid.kernel_distance(np.zeros((2, 1)), np.ones((2, 1)), subsets=3)
    assert np.isclose(kid, 7.0) and std == 0.0


def test_inception_features_refuse_missing_weights(tmp_path):
    with pytest.raises(ValueError, match="--inception-weights"):
        fid.InceptionFeatures(None)
    with pytest.raises(ValueError, match="not found"):
        fid.InceptionFeatures(tmp_path / "missing.h5")


def test_decisions_and_accuracy(joint_config):
    layout = layout_for(joint_config)
    n_d = layout.num_domains
    logits = np.full((2, n_d), -5.0)
    logits[0, 1] = 3.0  # blond
    logits[0, 3] = 1.0  # male
    logits[1, layout.domain_names.index("happy")] = 2.0
    decisions = decide(layout, logits)
    assert decisions[0, :5].tolist() == [0, 1, 0, 1, 0]
    assert decisions[1, layout.domain_names.index("happy")] == 1
    labels = np.stack([layout.encode({"Blond_Hair": 1, "Male": 1, "Young": 1}), layout.encode({"happy": 1})])
    accuracy = domain_accuracy(layout, decisions, labels)
    assert accuracy["Blond_Hair"] == 1.0 and accuracy["Male"] == 1.0 and accuracy["Young"] == 0.0
    assert accuracy["happy"] == 1.0 and "sad" not in accuracy  # no sad faces: no score


class StubClassifier:
    """Judges every image as the fixed label vector it was given (ignores the pixels)."""

    def __init__(self, layout, values):
        logits = np.where(layout.encode(values)[: layout.num_domains] > 0.5, 5.0, -5.0)
        self.logits = logits.astype(np.float32)

    def __call__(self, images, training=False):
        return np.tile(self.logits, (len(images), 1))


def test_target_accuracy_with_a_stub_classifier(joint_config):
    layout = layout_for(joint_config)
    data = ground_truth.eval_set(joint_config, 4)
    stub = StubClassifier(layout, {"Blond_Hair": 1, "Male": 1, "Young": 0})
    result = evaluate_translations(lambda x, c: x, layout, data, classifier=stub, log=lambda *_: None)
    per = result["per_domain"]
    assert per["Blond_Hair"]["target_accuracy"] == 1.0  # every target asks for blond, the stub says blond
    assert per["Black_Hair"]["target_accuracy"] == 0.0
    # The stub always says male, so "Male" is right exactly where the target is male, counted over the
    # CelebA-like faces only: an RaFD-like face has no hair color or age to keep.
    celeba = layout.target_defined(data.labels, "Male")
    assert celeba.tolist() == [True] * 4 + [False] * 4
    male_targets = dict(layout.grid_targets(data.labels))["Male"][:, layout.domain_names.index("Male")]
    assert np.isclose(per["Male"]["target_accuracy"], male_targets[celeba].mean())
    assert result["target_accuracy_min"] == 0.0
    # The do-nothing translation reconstructs perfectly and equals the baseline exactly.
    assert result["reconstruction_l1"] == 0.0
    assert np.isclose(result["gt_l1"], result["baseline_l1"]) and np.isclose(result["gt_l1_ratio"], 1.0)
    assert result["identity_l1"] == 0.0


def test_incomplete_targets_are_never_translated(joint_config):
    layout = layout_for(joint_config)
    data = ground_truth.eval_set(joint_config, 3)
    seen = []

    def translate(x, c):
        seen.append((len(x), tuple(layout.dataset_mask(c).argmax(axis=1))))
        return x

    result = evaluate_translations(translate, layout, data, log=lambda *_: None)
    celeba, rafd = (0,) * 3, (1,) * 3
    # Per target: the translation and its way back. CelebA-like targets: the CelebA-like faces only;
    # expressions: all six faces, the CelebA-like ones sent back with their own labels.
    assert seen[:2] == [(3, celeba), (3, celeba)]
    assert seen[-2:] == [(6, rafd + rafd), (6, celeba + rafd)]
    assert len(seen) == 2 * layout.num_domains and result["num_images"] == 6


def test_target_and_kept_hits(joint_config):
    layout = layout_for(joint_config)
    source = np.stack([layout.encode({"Black_Hair": 1, "Male": 1})])
    target = dict(layout.grid_targets(source))["Blond_Hair"]
    judged = decide(layout, np.where(target[:, : layout.num_domains] > 0.5, 1.0, -1.0))
    assert target_hits(layout, judged, target, "Blond_Hair").tolist() == [True]
    assert kept_hits(layout, judged, source, target, "Blond_Hair").tolist() == [1.0]
    judged[0, layout.domain_names.index("Male")] = 0  # gender changed too: not kept
    assert kept_hits(layout, judged, source, target, "Blond_Hair").tolist() == [0.0]


def test_ground_truth_matches_the_renderer(joint_config):
    layout = layout_for(joint_config)
    data = ground_truth.eval_set(joint_config, 6)
    size, seed = joint_config.model.image_size, joint_config.data.synthetic.seed
    assert np.array_equal(data.images, synthetic.render_batch(data.identity_ids, data.faces, size, seed))
    # Held-out identities only: never those the model trains on.
    assert all(i % 1_000_000 >= joint_config.data.synthetic.num_identities for i in data.identity_ids)
    targets = dict(layout.grid_targets(data.labels))
    blond = ground_truth.target_faces(layout, data, targets["Blond_Hair"])
    happy = ground_truth.target_faces(layout, data, targets["happy"])
    for i, face in enumerate(data.faces):
        assert happy[i].expression == "happy" and happy[i].hair == face.hair
        if i < 6:  # CelebA-like faces: only the hair changes
            assert blond[i] == synthetic.FaceAttributes("blond", face.male, face.young, face.expression)
    truth = ground_truth.render_truth(data, blond)
    expected = synthetic.render_face(synthetic.identity_from_id(int(data.identity_ids[0]), seed), blond[0], size)
    assert np.array_equal(truth[0], expected)
    changed = ground_truth.changed_pixels(data.images, truth)
    same = np.array([b == f for b, f in zip(blond, data.faces, strict=True)])
    assert not changed[same].any() and changed[~same].any(axis=(1, 2)).all()


def test_grow_region_reaches_the_pixels_within_that_many_4_neighbour_steps():
    region = np.zeros((2, 16, 16), bool)
    region[0, 8, 8] = True  # image 1 stays empty
    grown = ground_truth.grow_region(region, 4)
    rows, cols = np.mgrid[:16, :16]
    assert np.array_equal(grown[0], np.abs(rows - 8) + np.abs(cols - 8) <= 4)  # a diamond of 41 pixels
    assert not grown[1].any() and region.sum() == 1  # the input is left as it was
    assert np.array_equal(ground_truth.grow_region(region, 0), region)
