"""Every paper figure and table as one declarative entry: tasks per scale, studies, renderer.

Paper-scale task choices follow the paper's figures. Where an experiment needs a
mechanism only the JAX-native path has (bursts of self-generated data, a vmapped
exploration-weight axis, step-by-step test traces), the paper's vision / Metaworld task
is replaced by the closest JAX-native one (its proprio version, or MinAtar for images);
each entry says so in its title.
"""

from __future__ import annotations

from experiments.spec import Experiment, StudySpec

SMOKE_TASK = "debug/point_reach"
MAZE = "dmc/point_mass_maze-proprio"  # positions are in the observation: the heatmaps need them
FIG3_TASKS = ("dmc/cheetah_run-vision", "dmc/quadruped_run-vision", "metaworld/pick-place", "metaworld/basketball")
INTERACTIVE_TASKS = ("dmc/cheetah_run-proprio", "dmc/quadruped_run-proprio", "minatar/space_invaders")
JAX_NATIVE_PAPER_TASKS = (
    *(f"dmc/{t}-proprio" for t in ("cheetah_run", "walker_walk", "hopper_hop", "finger_turn_hard", "reacher_hard",
                                   "cup_catch", "humanoid_walk", "quadruped_run", "point_mass_maze")),
    *(f"minatar/{g}" for g in ("asterix", "breakout", "freeway", "seaquest", "space_invaders")),
)

BASE = StudySpec("base", ("active", "passive", "tandem"))
SPLITS = StudySpec("splits", ("active", "passive", "passive_expert", "passive_suboptimal", "passive_mixed"))
EXPL_SWEEP = StudySpec("expl_sweep", ("active", "passive", "tandem"),
                       (("expl_weights", (0.0, 0.1, 0.5, 0.9, 1.0)),))
THRESHOLDS = (2.0, 1.65, 1.35, 1.2)


def _smoke_and(paper: tuple[str, ...], smoke: tuple[str, ...] = (SMOKE_TASK,)) -> dict:
    return {"smoke": smoke, "paper": paper}


EXPERIMENTS = {e.name: e for e in (
    Experiment("fig2", "Fig. 2: degraded offline performance in the point-mass maze (score, trajectories over "
               "buffer visitation and world-model loss)", _smoke_and((MAZE,), (MAZE,)), (BASE,), "maze_trajectories"),
    Experiment("fig3", "Fig. 3: episode score and eval world-model loss of Active, Passive and Tandem",
               _smoke_and(FIG3_TASKS), (BASE,), "curves"),
    Experiment("fig4", "Fig. 4: Passive agents on expert, suboptimal and mixed halves of the Active buffer",
               _smoke_and(FIG3_TASKS[:3]), (SPLITS,), "curves"),
    Experiment("fig5", "Fig. 5: state visitation of task-oriented, pure-exploration and mixed (w_expl = 0.5) "
               "Active buffers in the point-mass maze", _smoke_and((MAZE,), (MAZE,)),
               (StudySpec("expl_data", ("active",), (("expl_weights", (0.0, 1.0, 0.5)),)),), "visitation"),
    Experiment("fig6", "Fig. 6: training on pure exploration data (Active-expl, w_expl = 1) vs the task-oriented "
               "Active baseline", _smoke_and(FIG3_TASKS[:3]),
               (BASE, StudySpec("expl_data", ("active", "passive", "tandem"), (("expl_weights", (1.0,)),))),
               "curves", baseline="active"),
    Experiment("fig7", "Fig. 7: exploration bonus w_expl in {0, 0.1, 0.5, 0.9, 1} as one vmapped axis "
               "(quadruped run, proprio: the vmapped axis needs the JAX-native task)",
               _smoke_and(("dmc/quadruped_run-proprio",)), (EXPL_SWEEP,), "curves", baseline="active (expl_weight=0)"),
    Experiment("fig8", "Fig. 8: Passive agents with fixed (N = 4K, 20K, 200K) and adaptive self-generated data "
               "(JAX-native tasks: bursts run inside the jitted loop)", _smoke_and(INTERACTIVE_TASKS),
               (StudySpec("self_generated", ("active", "passive", "passive_fixed", "passive_auto"),
                          (("fixed_intervals", (4_000, 20_000, 200_000)),),
                          scale_settings=(("smoke", (("fixed_intervals", (200, 400)),)),
                                          ("cpu", (("fixed_intervals", (500, 2_000)),)))),),
               "curves", metrics=("score", "eval_wm_loss", "self_generated_pct")),
    Experiment("figS1", "Fig. S1: OOD-ratio thresholds {2.0, 1.65, 1.35, 1.2} for adaptive Passive agents, one "
               "vmapped axis", _smoke_and(INTERACTIVE_TASKS),
               (StudySpec("thresholds", ("active", "passive_auto"), (("ood_thresholds", THRESHOLDS),)),),
               "curves", metrics=("score", "ood_ratio", "self_generated_pct"), options=(("normalized", True),)),
    Experiment("figS2", "Fig. S2: value error, critic V(s0) minus the Monte-Carlo return",
               _smoke_and(FIG3_TASKS), (BASE,), "curves", metrics=("value_error", "score")),
    Experiment("figS3", "Fig. S3: reward, world-model loss and policy-input loss per step of one test episode "
               "(proprio tasks: step traces are recorded by the JAX-native evaluation)",
               _smoke_and((MAZE, "dmc/cheetah_run-proprio"), (MAZE,)), (BASE,), "traces"),
    Experiment("figS4", "Fig. S4: decoded next to true observations in a test episode (MinAtar: the JAX-native "
               "image task)", _smoke_and(("minatar/breakout",), ("minatar/breakout",)), (BASE,), "decoded"),
    Experiment("figS5", "Fig. S5: Tandem_sameWM and Passive_sameWM(frozen)",
               _smoke_and(("dmc/hopper_hop-proprio", "dmc/quadruped_run-proprio")),
               (StudySpec("same_wm", ("active", "passive", "tandem", "tandem_same_wm", "passive_frozen_wm")),),
               "curves"),
    Experiment("figS6", "Fig. S6: Passive agents initialised with the same or a different seed as their Active",
               _smoke_and(FIG3_TASKS[:3]), (StudySpec("init", ("active", "passive", "passive_same_init")),), "curves"),
    Experiment("figS7", "Fig. S7: Tandem agents initialised as (1 - alpha) w_Active + alpha w_Tandem, one seed "
               "(cheetah run, proprio: the vmapped alpha axis needs the JAX-native task)",
               _smoke_and(("dmc/cheetah_run-proprio",)),
               (StudySpec("alpha", ("active", "tandem", "tandem_alpha"),
                          (("tandem_alphas", (0.001, 0.01, 0.1, 0.5)), ("num_seeds", 1))),), "curves"),
    Experiment("figS8", "Fig. S8: Passive agents on different halves of the Active buffer (point-mass maze)",
               _smoke_and(("dmc/point_mass_maze-vision",), (MAZE,)), (SPLITS,), "curves"),
    Experiment("figS9", "Fig. S9: the best exploration bonus differs per task (proprio tasks for the vmapped axis)",
               _smoke_and((MAZE, "dmc/quadruped_run-proprio"), (MAZE,)), (EXPL_SWEEP,), "curves",
               baseline="active (expl_weight=0)"),
    Experiment("tableS2", "Table S2: self-generated data added by adaptive Passive agents, % of the Active buffer "
               "(the JAX-native tasks)", _smoke_and(JAX_NATIVE_PAPER_TASKS, (SMOKE_TASK, MAZE)),
               (StudySpec("adaptive", ("active", "passive_auto")),), "table", metrics=("self_generated_pct",)),
)}
