"""The dashboard's bar charts read right at any data size (issue 16)."""

from __future__ import annotations

import re

from app.dashboard.charts import Series, _nice_max, bar_chart


def _axis(svg: str) -> list[str]:
    return re.findall(r'<text class="axis" x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)<', svg)


def test_small_values_get_distinct_axis_labels():
    svg = str(bar_chart("มัธยฐาน", ["ก", "ข"], [Series("วัน", [0.05, 0.02])]))
    labels = _axis(svg)
    assert len(set(labels)) == len(labels) == 5, labels  # never "0.1 / 0.1 / 0.1 / 0 / 0"
    assert labels == ["0.00", "0.02", "0.04", "0.06", "0.08"]


def test_nice_maxima_for_any_magnitude():
    assert _nice_max(0.05) == 0.08
    assert _nice_max(0.3) == 0.32
    assert _nice_max(7) == 8
    assert _nice_max(12) == 12
    assert _nice_max(2350) == 2400


def test_axis_decimals_follow_the_grid_step():
    eight = _axis(str(bar_chart("t", ["a"], [Series("s", [8])])))
    assert eight == ["0", "2", "4", "6", "8"]
    nine = _axis(str(bar_chart("t", ["a"], [Series("s", [9])])))
    assert nine == ["0.0", "2.5", "5.0", "7.5", "10.0"]
    labels = _axis(str(bar_chart("t", ["a"], [Series("s", [40])])))
    assert labels == ["0", "10", "20", "30", "40"]
    percent = _axis(str(bar_chart("t", ["a"], [Series("s", [0.8])], percent=True, y_max=1)))
    assert percent == ["0%", "25%", "50%", "75%", "100%"]


def test_long_hospital_names_are_shortened_and_given_room():
    names = ["โรงพยาบาลสมเด็จพระยุพราชสว่างแดนดิน", "โรงพยาบาลพระอาจารย์มั่น ภูริทัตโต"]
    svg = str(bar_chart("t", names, [Series("s", [3, 4])]))
    height = int(re.search(r'viewBox="0 0 760 (\d+)"', svg).group(1))
    assert height > 280  # the plot keeps its height; the labels get their own room
    assert "โรงพยาบาลสมเด็จพร…" in svg  # the axis label, shortened
    assert names[0] in svg  # the whole name in the bar's tooltip
    first_label_x = float(re.search(r'transform="rotate\(-40 ([\d.]+)', svg).group(1))
    assert first_label_x >= 18 * 7.5 * 0.77  # the rotated label starts inside the chart
