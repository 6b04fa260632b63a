"""The prototype head's scale and loss options: fixed prototypes under every option, the learned
scale, the margin ramp, the long-tail corrections by hand, and the refused combinations."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from protobank.errors import InvalidInputError
from protobank.train import (
    HeadLoss,
    HeadOptions,
    PrototypeHead,
    SoftmaxHead,
    adacos_scale,
    build_prototype_head,
    decay_groups,
    ipm_loss,
    prototype_ce_loss,
)
from protobank.train.head_options import parse_scale

C, D = 7, 4
OPTION_SETS = [
    HeadOptions(),
    HeadOptions(loss="ipm"),
    HeadOptions(loss="ce"),
    HeadOptions(loss="ce", scale="adacos"),
    HeadOptions(loss="ce", scale=8.0, learn_scale=True, bias=True),
    HeadOptions(loss="ce", scale="norm", bias=True),
    HeadOptions(loss="ce", scale="adacos", learn_scale=True, margin=0.3, margin_ramp_epochs=2.0),
    HeadOptions(loss="ce", scale="norm", margin=0.2, long_tail="logit-adjust", tau=0.5),
]
COUNTS = torch.tensor([50, 20, 9, 5, 3, 2, 1])


def _prototypes(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return nn.functional.normalize(torch.randn(C, D, generator=g), dim=1)


def _batch(n: int = 12, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (3 * torch.randn(n, D, generator=g)).requires_grad_(), torch.randint(0, C, (n,), generator=g)


def _loss(options: HeadOptions, head: PrototypeHead | None = None) -> tuple[PrototypeHead, HeadLoss]:
    head = head or build_prototype_head(_prototypes(), options)
    loss = HeadLoss(head, options)
    loss.set_class_counts(COUNTS)
    loss.set_progress(1.0)
    return head, loss


@pytest.mark.parametrize("options", OPTION_SETS, ids=str)
def test_prototypes_stay_fixed_buffers_under_every_option(options):
    head, loss = _loss(options)
    head.set_assignment([3, 1, 0, 2, 6, 5, 4])
    before = head.prototypes.clone()
    assert {"prototypes", "assignment"} <= dict(head.named_buffers()).keys()
    assert all(p is not head.prototypes for p in head.parameters())
    optimizer = torch.optim.SGD([*head.parameters(), torch.zeros(1, requires_grad=True)], lr=1.0, momentum=0.9)
    for _ in range(2):
        features, labels = _batch()
        optimizer.zero_grad()
        loss(features, head(features), labels).backward()
        optimizer.step()
        assert features.grad is not None and features.grad.abs().sum() > 0  # the loss reached the features
    assert head.prototypes.grad is None and not head.prototypes.requires_grad
    assert torch.equal(head.prototypes, before)


def test_learned_scale_is_log_parametrised_and_gets_a_gradient():
    head, loss = _loss(HeadOptions(loss="ce", scale=8.0, learn_scale=True))
    assert [name for name, _ in head.named_parameters()] == ["log_scale"]
    assert head.log_scale.item() == pytest.approx(math.log(8.0)) and head.scale.item() == pytest.approx(8.0)
    features, labels = _batch()
    loss(features, head(features), labels).backward()
    assert head.log_scale.grad is not None and float(head.log_scale.grad) != 0.0
    adacos = build_prototype_head(_prototypes(), HeadOptions(loss="ce", scale="adacos", learn_scale=True))
    assert adacos.scale.item() == pytest.approx(adacos_scale(C))  # AdaCos as the starting value


def test_learned_scale_never_falls_below_its_start_and_can_grow():
    """Uninformative features make the cross-entropy shrink the scale; a learned scale free to
    follow collapses towards 0 and starves the backbone of gradient, so it is held at its start."""
    head, loss = _loss(HeadOptions(loss="ce", scale=4.0, learn_scale=True))
    optimizer = torch.optim.SGD(head.parameters(), lr=1.0)
    features, labels = _batch()
    for _ in range(3):  # random labels: the loss wants a smaller scale
        optimizer.zero_grad()
        loss(features, head(features), labels).backward()
        assert float(head.log_scale.grad) > 0.0
        optimizer.step()
    assert head.scale.item() == pytest.approx(4.0)  # projected back onto its start at use
    aligned = head.class_prototypes()[labels] * 3.0  # features on their own prototypes: confidence pays
    for _ in range(3):
        optimizer.zero_grad()
        loss(aligned, head(aligned), labels).backward()
        optimizer.step()
    assert head.scale.item() > 4.5


def test_adacos_scale_is_sqrt2_ln_c_minus_1():
    assert adacos_scale(53) == pytest.approx(math.sqrt(2) * math.log(52)) and adacos_scale(53) == pytest.approx(5.588, abs=1e-3)
    head = build_prototype_head(_prototypes(), HeadOptions(loss="ce", scale="adacos", learn_scale=False))
    assert head.scale == pytest.approx(math.sqrt(2) * math.log(C - 1)) and list(head.parameters()) == []
    assert adacos_scale(2) == adacos_scale(3) == pytest.approx(math.sqrt(2) * math.log(2))  # the rule's 0 at c = 2 is no scale


def test_the_default_is_the_learned_adacos_scale_with_logit_adjustment():
    assert HeadOptions().resolved() == HeadOptions(loss="ce", scale="adacos", learn_scale=True, long_tail="logit-adjust")
    assert HeadOptions(scale="norm").resolved().learn_scale is False  # the feature norm is no parameter
    assert HeadOptions(loss="ipm").resolved() == HeadOptions(loss="ipm", learn_scale=False, long_tail="none")
    assert HeadOptions().resolved("softmax").long_tail == "logit-adjust"
    head, loss = _loss(HeadOptions())
    assert head.scale_floor == pytest.approx(adacos_scale(C)) and head.scale.item() == pytest.approx(adacos_scale(C))
    features, labels = _batch()
    logits = adacos_scale(C) * nn.functional.normalize(features, dim=1) @ head.class_prototypes().T
    expected = nn.functional.cross_entropy(logits + COUNTS.float().log(), labels)
    torch.testing.assert_close(loss(features, None, labels), expected)


def test_fixed_scale_without_correction_matches_the_former_ce_loss():
    head, loss = _loss(HeadOptions(loss="ce", scale=4.0, learn_scale=False, long_tail="none"))
    features, labels = _batch()
    assert head.scale == 4.0
    expected = prototype_ce_loss(features, labels, PrototypeHead(_prototypes()))
    torch.testing.assert_close(loss(features, None, labels), expected)
    torch.testing.assert_close(loss(features, head(features), labels), expected)


def test_logit_adjustment_is_the_cross_entropy_of_shifted_logits():
    features, labels = _batch()
    head, loss = _loss(HeadOptions(loss="ce", scale=4.0, learn_scale=False, bias=True, long_tail="logit-adjust", tau=0.5))
    with torch.no_grad():
        head.bias.copy_(torch.linspace(-1, 1, C))
    logits = head(features)
    prior = COUNTS.double() / COUNTS.sum()
    expected = nn.functional.cross_entropy(logits + 0.5 * prior.log().float(), labels)
    torch.testing.assert_close(loss(features, logits, labels), expected)
    # tau = 1 is Ren et al.'s balanced softmax: log(count) in place of log(prior)
    _, balanced = _loss(HeadOptions(loss="ce", scale=4.0, learn_scale=False, bias=True, long_tail="logit-adjust"), head)
    torch.testing.assert_close(balanced(features, logits, labels), nn.functional.cross_entropy(logits + COUNTS.float().log(), labels))
    # prediction is unchanged: the head's logits carry no prior
    cosines = nn.functional.normalize(features, dim=1) @ head.class_prototypes().T
    torch.testing.assert_close(logits, 4.0 * cosines + head.bias)


def test_softmax_head_takes_the_long_tail_correction_only():
    head = SoftmaxHead(D, C)
    loss = HeadLoss(head, HeadOptions(loss="ipm", long_tail="logit-adjust"))  # loss=ipm does not apply to softmax
    loss.set_class_counts(COUNTS)
    features, labels = _batch()
    logits = head(features)
    torch.testing.assert_close(loss(features, logits, labels), nn.functional.cross_entropy(logits + COUNTS.float().log(), labels))
    with pytest.raises(InvalidInputError, match="--bias set the prototype head"):
        HeadLoss(head, HeadOptions(loss="ce", bias=True))


def test_margin_ramps_linearly_over_the_given_epochs():
    _, loss = _loss(HeadOptions(loss="ce", margin=0.3, margin_ramp_epochs=4.0))
    seen = []
    for epochs in (0.0, 1.0, 2.0, 4.0, 9.5):
        loss.set_progress(epochs)
        seen.append(loss.margin)
    assert seen == pytest.approx([0.0, 0.075, 0.15, 0.3, 0.3])
    _, full = _loss(HeadOptions(loss="ce", margin=0.3))
    full.set_progress(0.0)
    assert full.margin == 0.3  # no ramp: the full margin from the first step
    with pytest.raises(InvalidInputError, match="epochs >= 0"):
        loss.set_progress(-1.0)


@pytest.mark.parametrize("scale", [6.0, "norm"])
def test_margin_is_subtracted_from_the_true_cosine_only(scale):
    head, loss = _loss(HeadOptions(loss="ce", scale=scale, learn_scale=False, margin=0.4, margin_ramp_epochs=2.0, long_tail="none"))
    loss.set_progress(1.0)  # half-way: m = 0.2
    features, labels = _batch()
    cosines = nn.functional.normalize(features, dim=1) @ head.class_prototypes().T
    s = features.norm(dim=1, keepdim=True) if scale == "norm" else scale
    margin = 0.2 * nn.functional.one_hot(labels, C)
    expected = nn.functional.cross_entropy(s * (cosines - margin), labels)
    torch.testing.assert_close(loss(features, head(features), labels), expected)
    torch.testing.assert_close(head(features), s * cosines)  # the head predicts without the margin


def test_bias_stays_with_its_label_when_the_assignment_changes():
    head = build_prototype_head(_prototypes(), HeadOptions(loss="ce", scale=2.0, learn_scale=False, bias=True))
    with torch.no_grad():
        head.bias.copy_(torch.arange(C, dtype=torch.float32))
    perm = [6, 4, 5, 0, 1, 3, 2]
    head.set_assignment(perm)
    features, _ = _batch()
    cosines = nn.functional.normalize(features, dim=1) @ head.prototypes[perm].T
    torch.testing.assert_close(head(features), 2.0 * cosines + torch.arange(C, dtype=torch.float32))


def test_state_dict_round_trip_with_learned_scale_and_bias():
    options = HeadOptions(loss="ce", scale="adacos", learn_scale=True, bias=True)
    head, loss = _loss(options)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.5)
    features, labels = _batch()
    loss(features, head(features), labels).backward()
    optimizer.step()
    head.set_assignment([1, 0, 2, 3, 4, 6, 5])
    state = head.state_dict()
    assert set(state) == {"prototypes", "assignment", "log_scale", "bias"}
    again = build_prototype_head(_prototypes(), options)
    again.load_state_dict(state)
    torch.testing.assert_close(again(features), head(features), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="log_scale"):  # a head built without them refuses the state
        build_prototype_head(_prototypes(), HeadOptions(loss="ce", learn_scale=False)).load_state_dict(state)
    assert set(build_prototype_head(_prototypes(), HeadOptions(loss="ipm")).state_dict()) == {"prototypes", "assignment"}


def test_eq6_is_unchanged_and_computes_no_logits(monkeypatch):
    head, loss = _loss(HeadOptions(loss="ipm"))
    head.set_assignment([2, 0, 1, 4, 3, 6, 5])
    features, labels = _batch()
    z = nn.functional.normalize(features, dim=1)
    expected = 0.5 * (((z * head.class_prototypes()[labels]).sum(1) - 1) ** 2).mean()  # the former ipm_loss
    torch.testing.assert_close(ipm_loss(features, labels, head), expected, rtol=0, atol=0)

    def no_table(*_args):
        raise AssertionError("eq. 6 read every prototype")

    monkeypatch.setattr(head, "forward", no_table)
    monkeypatch.setattr(head, "class_prototypes", no_table)
    torch.testing.assert_close(loss(features, None, labels), expected, rtol=0, atol=0)


def test_feature_norm_scale_is_the_dot_product():
    head = build_prototype_head(_prototypes(), HeadOptions(loss="ce", scale="norm"))
    features, _ = _batch()
    assert head.scale is None and list(head.parameters()) == []
    torch.testing.assert_close(head(features), features @ head.class_prototypes().T)


def test_decay_groups_exempt_the_heads_scale_and_bias():
    head = build_prototype_head(_prototypes(), HeadOptions(loss="ce", bias=True))
    model = nn.Sequential(nn.Linear(3, D), head)
    decay, exempt = decay_groups(model, 5e-4)
    assert decay["weight_decay"] == 5e-4 and {id(p) for p in decay["params"]} == {id(p) for p in model[0].parameters()}
    assert exempt["weight_decay"] == 0.0 and {id(p) for p in exempt["params"]} == {id(head.log_scale), id(head.bias)}


REFUSED = [
    (HeadOptions(loss="ipm", margin=0.2), "--loss ipm (eq. 6) takes no --margin"),
    (HeadOptions(loss="ipm", bias=True, long_tail="logit-adjust"), "takes no --bias, --long-tail"),
    (HeadOptions(loss="ipm", scale=4.0, learn_scale=True), "takes no --scale, --learn-scale"),
    (HeadOptions(loss="ce", scale="norm", learn_scale=True), "--learn-scale needs a number"),
    (HeadOptions(loss="ce", scale=0.0), "--scale must be a positive number"),
    (HeadOptions(loss="ce", scale=-2.0), "--scale must be a positive number"),
    (HeadOptions(loss="ce", scale=math.inf), "--scale must be a positive number"),
    (HeadOptions(loss="ce", scale="large"), "--scale must be a positive number"),
    (HeadOptions(loss="ce", margin=-0.1), "--margin must be"),
    (HeadOptions(loss="ce", margin=1.5), "--margin must be"),
    (HeadOptions(loss="ce", margin=math.nan), "--margin must be"),
    (HeadOptions(loss="ce", margin_ramp_epochs=3.0), "--margin-ramp-epochs ramps a --margin"),
    (HeadOptions(loss="ce", margin=0.2, margin_ramp_epochs=-1.0), "--margin-ramp-epochs must be"),
    (HeadOptions(loss="ce", long_tail="none", tau=2.0), "--tau weighs"),
    (HeadOptions(loss="ipm", tau=2.0), "--tau weighs"),
    (HeadOptions(loss="ce", long_tail="logit-adjust", tau=0.0), "--tau must be a positive number"),
    (HeadOptions(loss="ce", long_tail="balanced"), "--long-tail must be none or logit-adjust"),
    (HeadOptions(loss="eq6"), "--loss must be ipm or ce"),
]


@pytest.mark.parametrize(("options", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_nonsense_combinations_are_refused_in_one_line(options, message):
    with pytest.raises(InvalidInputError) as caught:
        options.check()
    assert message in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(InvalidInputError):
        build_prototype_head(_prototypes(), options)


@pytest.mark.parametrize(
    ("head", "options"),
    [
        (PrototypeHead(_prototypes()), HeadOptions(loss="ce")),  # scale 1, not the options' 4
        (PrototypeHead(_prototypes(), scale=4.0), HeadOptions(loss="ce", bias=True)),
        (PrototypeHead(_prototypes(), scale=4.0, learn_scale=True), HeadOptions(loss="ce", scale=4.0, learn_scale=False)),
        (PrototypeHead(_prototypes(), scale=4.0, learn_scale=True), HeadOptions()),  # learned from 4, not AdaCos
        (PrototypeHead(_prototypes(), bias=True), HeadOptions(loss="ipm")),
    ],
)
def test_loss_refuses_a_head_built_with_other_options(head, options):
    with pytest.raises(InvalidInputError, match="build_prototype_head"):
        HeadLoss(head, options)


def test_long_tail_needs_the_class_counts_at_loss_time():
    options = HeadOptions(loss="ce", long_tail="logit-adjust")
    head = build_prototype_head(_prototypes(), options)
    loss = HeadLoss(head, options)
    features, labels = _batch()
    with pytest.raises(InvalidInputError, match="needs the training class counts"):
        loss(features, head(features), labels)
    with pytest.raises(InvalidInputError, match="must be >= 0"):
        loss.set_class_counts([5, 4, -1, 3, 2, 1, 1])
    with pytest.raises(InvalidInputError, match="one per label"):
        loss.set_class_counts([5, 4])


def test_a_class_without_training_samples_drops_out_of_the_adjusted_softmax():
    options = HeadOptions(loss="ce", scale=4.0, learn_scale=False, long_tail="logit-adjust")
    head = build_prototype_head(_prototypes(), options)
    loss = HeadLoss(head, options)
    counts = torch.tensor([5, 4, 0, 3, 2, 1, 1])
    loss.set_class_counts(counts)
    features, labels = _batch()
    labels[labels == 2] = 0  # as in the training data
    logits = head(features)
    value = loss(features, logits, labels)
    keep = counts > 0
    shifted = (logits + counts.clamp(min=1).float().log())[:, keep]
    expected = nn.functional.cross_entropy(shifted, torch.searchsorted(keep.nonzero().flatten(), labels))
    torch.testing.assert_close(value, expected)
    value.backward()
    assert torch.isfinite(features.grad).all()


def test_parse_scale_reads_the_flag():
    assert parse_scale("6.5") == 6.5 and parse_scale("adacos") == "adacos" and parse_scale("norm") == "norm"
    with pytest.raises(InvalidInputError, match="--scale must be a positive number, adacos or norm"):
        parse_scale("big")
