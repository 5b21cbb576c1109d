"""Layer tests added for the mutation score (tests/MUTATION.md)."""
import npgan
from npgan import nn


def test_eval_and_train_set_the_flag_to_booleans_in_every_module():
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.Sequential(nn.Tanh()))
    assert model.eval() is model
    assert [m.training for m in model.modules()] == [False] * 5
    assert model.train() is model
    assert [m.training for m in model.modules()] == [True] * 5


def test_load_state_dict_lists_every_difference_in_one_message():
    import numpy as np
    import pytest
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    state = model.state_dict()
    state["0.weight"] = np.ones((4, 2))
    state["1.weight"] = np.ones((1, 5))
    del state["0.bias"]
    state["extra"] = np.ones(1)
    with pytest.raises(ValueError, match=(
            r"^load_state_dict for Sequential: the state does not match this model's "
            r"architecture: missing keys \['0\.bias'\], unexpected keys \['extra'\], shape "
            r"mismatches \[0\.weight: checkpoint \(4, 2\) vs model \(3, 2\); 1\.weight: "
            r"checkpoint \(1, 5\) vs model \(1, 3\)\]$")):
        model.load_state_dict(state)
