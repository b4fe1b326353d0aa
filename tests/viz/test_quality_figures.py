"""viz/_quality_figures: the convergence figure with one doubling and with several."""

from sofi_dask.viz import plot_convergence


def test_one_step_says_so_and_draws_no_reference_line():
    fig = plot_convergence([100, 200], {"order 2": [0.1], "order 3": [0.3]})
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["order 2", "order 3"]  # no empty "∝ 1/√frames" entry in the legend
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "∝ 1/√frames" not in legend
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["one step only (100 -> 200 frames): no trend yet"]


def test_several_doublings_get_the_reference_slope():
    fig = plot_convergence([100, 200, 400, 800], {"order 2": [0.2, 0.14, 0.1]})
    ax = fig.axes[0]
    ref = [line for line in ax.lines if line.get_label() == "∝ 1/√frames"]
    assert len(ref) == 1 and not ax.texts
    x, y = ref[0].get_data()
    assert list(x) == [200, 400, 800] and y[0] / y[2] == 2.0  # 1/sqrt: x4 frames, /2
