"""The one embedding loop: eval mode without gradients, the training mode restored, extras kept in order."""
import numpy as np
import pytest
import torch

from siamese.inference import NothingToEmbed, device_of, embed, eval_mode
from siamese.nets import Tower


class OneStageTower(Tower):
    """A tower with one stage and dropout, so that train and eval mode give different outputs."""

    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.Dropout(0.9))

    def forward(self, x):
        return [self.body(x)]


def test_embed_uses_eval_mode_and_restores_training_mode():
    tower = OneStageTower().train()
    batches = [{"x": torch.ones(2, 1, 2, 2), "c": torch.tensor([0, 1])},
               {"x": torch.zeros(1, 1, 2, 2), "c": torch.tensor([2])}]
    a, extras = embed(tower, batches)
    b, _ = embed(tower, batches)
    assert np.array_equal(a, b)  # dropout off: deterministic
    assert tower.training and extras["c"].tolist() == [0, 1, 2] and a.shape == (3, 3) and a.dtype == np.float32


def test_eval_mode_turns_gradients_off_and_restores_the_mode_after_an_error():
    tower = OneStageTower().train()
    with pytest.raises(RuntimeError, match="boom"), eval_mode(tower):
        assert not tower.training and not torch.is_grad_enabled()
        raise RuntimeError("boom")
    assert tower.training and torch.is_grad_enabled()


def test_nothing_to_embed_is_a_clear_error_and_the_device_is_found():
    with pytest.raises(NothingToEmbed, match="nothing to embed"):
        embed(OneStageTower(), [])
    assert device_of(OneStageTower()) == torch.device("cpu")
    assert device_of(torch.nn.Identity()) == torch.device("cpu")    # no parameter at all
