import numpy as np
import pytest
from bardbot.trainer.lengths import length_stats, plot_histogram


def test_length_stats_on_known_lengths():
    lengths = np.array([1, 3, 5, 5, 10, 12])
    s = length_stats(lengths, 5)
    assert (s.reviews, s.padded, s.equal, s.truncated) == (6, 2, 2, 2)
    assert s.mean_length == pytest.approx(6.0)
    assert s.median_length == 5.0 and s.max_length == 12
    assert s.mean_kept == pytest.approx((1 + 3 + 5 + 5 + 5 + 5) / 6)
    assert "padded 2" in s.describe() and "truncated 2" in s.describe()
    assert length_stats(np.array([], dtype=int), 5).reviews == 0
    with pytest.raises(ValueError):
        length_stats(lengths, 0)


def test_histogram_png(tmp_path):
    path = plot_histogram(np.arange(100), [40, 80], tmp_path / "h.png", "fixture")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
