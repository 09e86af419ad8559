"""History: exact round trip through history.csv, best epoch, plotting."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnlab.errors import CnnlabError
from cnnlab.train import History

values = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(values, values, values), min_size=1, max_size=6))
def test_csv_round_trip_is_exact(tmp_path_factory, rows):
    history = History(
        [{"epoch": i + 1, "loss": a, "val_loss": b, "lr": c} for i, (a, b, c) in enumerate(rows)]
    )
    path = tmp_path_factory.mktemp("h") / "history.csv"
    history.to_csv(path)
    again = History.from_csv(path)
    assert again.rows == history.rows
    assert isinstance(again.rows[0]["epoch"], int)


def test_missing_values_and_keras_layout(tmp_path):
    history = History([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.5, "val_loss": 0.7}])
    history.to_csv(tmp_path / "h.csv")
    again = History.from_csv(tmp_path / "h.csv")
    assert again.rows[0] == {"epoch": 1, "loss": 1.0}
    assert math.isnan(again.history["val_loss"][0])
    assert again.history["loss"] == [1.0, 0.5]


def test_best_picks_by_mode():
    history = History([{"epoch": 1, "acc": 0.5}, {"epoch": 2, "acc": 0.9}, {"epoch": 3}])
    assert history.best("acc", "max")["epoch"] == 2
    assert history.best("acc", "min")["epoch"] == 1
    with pytest.raises(CnnlabError, match="no epoch has a value"):
        history.best("val_loss")


def test_not_a_history_file(tmp_path):
    bad = tmp_path / "h.csv"
    bad.write_text("epoch,loss\n1,banana\n")
    with pytest.raises(CnnlabError, match="not a cnnlab history"):
        History.from_csv(bad)
    with pytest.raises(CnnlabError, match="cannot read history"):
        History.from_csv(tmp_path / "missing.csv")


def test_plot_writes_an_image(tmp_path):
    history = History([{"epoch": 1, "loss": 1.0, "val_loss": 1.2, "lr": 0.1}])
    path = history.plot(tmp_path / "h.png")
    assert Image.open(path).size[0] > 100
