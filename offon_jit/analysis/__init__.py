"""Paper figures and tables regenerated from saved metrics, traces and replay buffers.

Every figure function returns a matplotlib Figure (save it with `save_figure`), and each
has a companion that returns the numbers it draws as a list of dicts (write them with
`write_csv`) or a grid array:

    curves            plot_curve_grid / curve_grid_table      Figs 3, 4, 6-8, S1, S2, S5-S14, S16, S17
    normalized_score  normalized_mean_rows / score_ranges     the "normalized mean" column:
                                                              (score - random) / (Active's final - random)
    random_scores     cached_random_scores / measure_random_score   random-policy scores, measured and cached per task
    maze_heatmaps     plot_maze_figure / trajectory_statistics Fig. 2
                      plot_visitation_heatmaps / visitation_counts   Fig. 5
    episode_traces    plot_episode_traces / trace_table        Fig. S3
                      plot_decoded_vs_true                     Fig. S4
    tables            self_generated_table / markdown_table    Table S2, Fig. S1 (third row)
                      final_values                             final means per task with Welch's t-test vs the Active
                      baseline_scores                          dashed baselines of Figs 6, 7, S9, S16
    statistics        welch_test                               the tables' test (scipy, unequal variances)
    added_data        plot_score_vs_added_data / score_vs_added_data   Fig. S15
    evidence          build_evidence / validate_evidence      the paper's findings (a)-(e): 95% intervals, verdicts
    evidence_report   plot_evidence / markdown_summary        evidence.png and evidence.md
    offline_ood       signal_validation / plot_signal_validation   offline OOD signals vs eval OOD ratio and score gap
                      schedule_comparison / markdown_report    passive_auto vs passive_offline_auto vs Passive
    style             display_names / curve_styles             the paper's name, colour, line style and marker per
                                                              curve (one mapping for run plots and experiment figures)
                      band_label / figure_texts                "shaded: ±1 std over n=3 seeds"; a figure's texts
"""

from offon_jit.analysis.added_data import plot_score_vs_added_data, score_vs_added_data
from offon_jit.analysis.aggregate import (
    Curve,
    aggregate,
    aggregate_metrics,
    curve_table,
)
from offon_jit.analysis.curves import (
    curve_grid_table,
    draw_curves,
    grid_layout,
    grid_rows,
    plot_curve_grid,
)
from offon_jit.analysis.episode_traces import (
    has_frames,
    max_loss_step,
    plot_decoded_vs_true,
    plot_episode_traces,
    trace_table,
    validate_trace,
)
from offon_jit.analysis.maze_grid import (
    DEFAULT_MAZE_BINS,
    as_positions,
    buffer_positions,
    cell_mean,
    cell_table,
    median_visitation,
    outlier_threshold,
    visitation_along,
    visitation_counts,
)
from offon_jit.analysis.maze_heatmaps import (
    draw_maze,
    draw_visitation,
    plot_maze_figure,
    plot_visitation_heatmaps,
    trace_positions,
    trajectory_statistics,
)
from offon_jit.analysis.normalized_score import (
    NORMALIZED_MEAN_TASK,
    best_mean_value,
    metric_ranges,
    normalize_rows,
    normalized_mean_rows,
    normalized_score,
    score_ranges,
)
from offon_jit.analysis.random_scores import (
    RandomPolicySetting,
    cached_random_scores,
    measure_random_score,
    read_cache,
)
from offon_jit.analysis.rows import (
    available_metrics,
    curve_label,
    validate_rows,
    validate_task_rows,
)
from offon_jit.analysis import evidence
from offon_jit.analysis.evidence_report import markdown_summary, plot_evidence
from offon_jit.analysis import offline_ood
from offon_jit.analysis.offline_ood import plot_signal_validation, schedule_comparison, signal_validation
from offon_jit.analysis.statistics import WelchTest, format_test, welch_test
from offon_jit.analysis.style import (
    CurveStyle,
    band_label,
    curve_styles,
    display_names,
    figure_texts,
    label_name,
    save_figure,
)
from offon_jit.analysis.tables import (
    REFERENCE_LABEL,
    baseline_scores,
    final_seed_values,
    final_values,
    markdown_table,
    self_generated_table,
    write_csv,
)

__all__ = [
    "DEFAULT_MAZE_BINS",
    "NORMALIZED_MEAN_TASK",
    "REFERENCE_LABEL",
    "Curve",
    "CurveStyle",
    "RandomPolicySetting",
    "WelchTest",
    "aggregate",
    "aggregate_metrics",
    "as_positions",
    "available_metrics",
    "band_label",
    "baseline_scores",
    "cached_random_scores",
    "best_mean_value",
    "buffer_positions",
    "cell_mean",
    "cell_table",
    "curve_grid_table",
    "curve_label",
    "curve_styles",
    "curve_table",
    "display_names",
    "draw_curves",
    "draw_maze",
    "draw_visitation",
    "evidence",
    "figure_texts",
    "final_seed_values",
    "final_values",
    "format_test",
    "grid_layout",
    "grid_rows",
    "has_frames",
    "label_name",
    "markdown_summary",
    "markdown_table",
    "max_loss_step",
    "measure_random_score",
    "metric_ranges",
    "median_visitation",
    "normalize_rows",
    "normalized_mean_rows",
    "normalized_score",
    "offline_ood",
    "outlier_threshold",
    "plot_curve_grid",
    "plot_decoded_vs_true",
    "plot_episode_traces",
    "plot_evidence",
    "plot_maze_figure",
    "plot_score_vs_added_data",
    "plot_signal_validation",
    "plot_visitation_heatmaps",
    "read_cache",
    "save_figure",
    "schedule_comparison",
    "score_ranges",
    "score_vs_added_data",
    "self_generated_table",
    "signal_validation",
    "trace_positions",
    "trace_table",
    "trajectory_statistics",
    "validate_rows",
    "validate_task_rows",
    "validate_trace",
    "visitation_along",
    "visitation_counts",
    "welch_test",
    "write_csv",
]
