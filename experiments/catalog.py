"""Every paper figure and table as one declarative entry: tasks per scale, studies, renderer.

`paper_tasks` are the tasks the paper shows for that figure or table, and `--scale paper`
runs exactly those: vision and Metaworld tasks run on host simulators, which support every
mechanism (bursts of self-generated data, swept axes, resume, step traces). `paper_source`
quotes the caption or sentence that names them; where the paper's text does not name a
task (it is only in a figure panel, which the text version lacks), the source says so. The smoke and cpu scales replace
paper tasks by cheap JAX-native stand-ins (`stand_ins`); their titles name each stand-in.
"""

from __future__ import annotations

from experiments.spec import Experiment, StudySpec

SMOKE_TASK = "debug/point_reach"
MAZE_PROPRIO = "dmc/point_mass_maze-proprio"  # smoke stand-in for the vision maze: JAX-native, positions in obs
MAZE = "dmc/point_mass_maze-vision"
CHEETAH = "dmc/cheetah_run-vision"
QUADRUPED = "dmc/quadruped_run-vision"
PICK_PLACE = "metaworld/pick-place"
FIG3_TASKS = (CHEETAH, QUADRUPED, PICK_PLACE, "metaworld/basketball")
FIG8_TASKS = (CHEETAH, QUADRUPED, PICK_PLACE, "minatar/space_invaders")
# Table S2's rows in the paper's order (its names: "assembly-proprio" is metaworld/assembly,
# "sequest-vision" minatar/seaquest, "spaceinvaders-vision" minatar/space_invaders).
TABLE_S2_TASKS = (
    *(f"dmc/{t}-{kind}" for t in ("cheetah_run", "cup_catch", "finger_turn_hard", "hopper_hop", "humanoid_walk",
                                  "point_mass_maze", "quadruped_run", "reacher_hard", "walker_walk")
      for kind in ("proprio", "vision")),
    *(f"metaworld/{t}" for t in ("assembly", "basketball", "button-press", "lever-pull", "peg-insert-side",
                                 "pick-place", "soccer", "window-open")),
    *(f"minatar/{g}" for g in ("asterix", "breakout", "freeway", "seaquest", "space_invaders")),
)

BASE = StudySpec("base", ("active", "passive", "tandem"))
SPLITS = StudySpec("splits", ("active", "passive", "passive_expert", "passive_suboptimal", "passive_mixed"))
EXPL_SWEEP = StudySpec("expl_sweep", ("active", "passive", "tandem"),
                       (("expl_weights", (0.0, 0.1, 0.5, 0.9, 1.0)),))
THRESHOLDS = (2.0, 1.65, 1.35, 1.2)


def smoke(paper_tasks: tuple[str, ...], default: str = SMOKE_TASK) -> dict:
    """Smoke (and cpu) stand-ins: every paper task runs `default`, except the vision maze, which runs its
    JAX-native proprio version (the heatmap and trace renderers read positions from its observation)."""
    return {"smoke": {task: MAZE_PROPRIO if task == MAZE else default for task in paper_tasks}}


def _entry(name, title, paper_tasks, studies, render, source, stand_in=SMOKE_TASK, **kwargs) -> Experiment:
    stand_ins = kwargs.pop("stand_ins", None) or smoke(paper_tasks, stand_in)
    return Experiment(name, title, paper_tasks, studies, render, stand_ins=stand_ins, paper_source=source, **kwargs)


NOT_NAMED = "the paper's text does not name {}: unverified (only the figure's panel titles would settle it)"

EXPERIMENTS = {e.name: e for e in (
    _entry("fig2", "Fig. 2: degraded offline performance in the point-mass maze (score, trajectories over "
           "buffer visitation and world-model loss)", (MAZE,), (BASE,), "maze_trajectories",
           "Fig. 2 caption: '2D point mass maze environment' (modality not stated). Vision: every time the paper "
           "names the maze's modality it is 'Point Mass Maze - Vision' (Figs. S3, S4, S8, S9; App. A.5 shows its "
           "final Tandem stuck in a novel region, as Fig. 2 does), and Table S2's adaptive Passive never needed "
           "data on the proprio maze (0.00%)", stand_in=MAZE_PROPRIO),
    _entry("fig3", "Fig. 3: episode score and eval world-model loss of Active, Passive and Tandem",
           FIG3_TASKS, (BASE,), "curves",
           "Fig. 3 caption: '4 selected tasks. The first two are from DMC and the last two are from the Metaworld "
           "domain'; Sec. 3.4/App. A.7: 'Quadruped Run - Vision and Pick-Place - Proprio ... in Fig. 3', A.7: "
           "'Basketball - Proprio and Pick-Place - Proprio'; " + NOT_NAMED.format("Cheetah Run - Vision")),
    _entry("fig4", "Fig. 4: Passive agents on expert, suboptimal and mixed halves of the Active buffer",
           FIG3_TASKS[:3], (SPLITS,), "curves", NOT_NAMED.format("Fig. 4's tasks")),
    _entry("fig5", "Fig. 5: state visitation of task-oriented, pure-exploration and mixed (w_expl = 0.5) "
           "Active buffers in the point-mass maze", (MAZE,),
           (StudySpec("expl_data", ("active",), (("expl_weights", (0.0, 1.0, 0.5)),)),), "visitation",
           "Fig. 5 caption: 'State visitation in the Point Mass Maze task ... (d) mixed reward ... w_expl = 0.5'; "
           "the paper's only maze run with w_expl = 0.5 is Fig. S9's 'Point Mass Maze - Vision' (App. A.8.1)",
           stand_in=MAZE_PROPRIO),
    _entry("fig6", "Fig. 6: training on pure exploration data (Active-expl, w_expl = 1) vs the task-oriented "
           "Active baseline", FIG3_TASKS[:3],
           (BASE, StudySpec("expl_data", ("active", "passive", "tandem"), (("expl_weights", (1.0,)),))),
           "curves", "Sec. 4.1: 'in two challenging tasks - Quadruped Run - Vision and Pick-Place - Proprio - ... "
           "as shown in Fig. 6'; " + NOT_NAMED.format("Cheetah Run - Vision"), baseline="active"),
    _entry("fig7", "Fig. 7: exploration bonus w_expl in {0, 0.1, 0.5, 0.9, 1}", (QUADRUPED,), (EXPL_SWEEP,),
           "curves", "Sec. 4.1: 'in Fig. 7, we show that pure exploration is hardly the best option for the hard "
           "tasks like Quadruped Run - Vision'", baseline="active (expl_weight=0)"),
    _entry("fig8", "Fig. 8: Passive agents with fixed (N = 4K, 20K, 200K) and adaptive self-generated data",
           FIG8_TASKS,
           (StudySpec("self_generated", ("active", "passive", "passive_fixed", "passive_auto"),
                      (("fixed_intervals", (4_000, 20_000, 200_000)),),
                      scale_settings=(("smoke", (("fixed_intervals", (200, 400)),)),
                                      ("cpu", (("fixed_intervals", (500, 2_000)),)))),),
           "curves", "Fig. 8 caption: 'adds 6.5% self-generated data in Cheetah Run - Vision, 2.9% in Quadraped "
           "Run - Vision, 9.8% in Pick-Place - Proprio, and 0.5% in Spaceinvaders'",
           metrics=("score", "eval_wm_loss", "self_generated_pct")),
    _entry("figS1", "Fig. S1: OOD-ratio thresholds {2.0, 1.65, 1.35, 1.2} for adaptive Passive agents",
           (CHEETAH, QUADRUPED, "minatar/space_invaders"),
           (StudySpec("thresholds", ("active", "passive_auto"), (("ood_thresholds", THRESHOLDS),)),),
           "curves", "Fig. S1 caption: 'four threshold values ... in three tasks'; "
           + NOT_NAMED.format("the three (here: Fig. 8's tasks other than Pick-Place)"),
           metrics=("score", "ood_ratio", "self_generated_pct"), options=(("normalized", True),)),
    _entry("figS2", "Fig. S2: value error, critic V(s0) minus the Monte-Carlo return", FIG3_TASKS, (BASE,),
           "curves", NOT_NAMED.format("Fig. S2's tasks (here: Fig. 3's, whose studies it shares)"),
           metrics=("value_error", "score")),
    _entry("figS3", "Fig. S3: reward, world-model loss and policy-input loss per step of one test episode",
           (MAZE, CHEETAH), (BASE,), "traces",
           "Fig. S3 caption: 'single test episode of the Point Mass Maze - Vision and Cheetah Run - Vision tasks'",
           stand_in=MAZE_PROPRIO),
    _entry("figS4", "Fig. S4: decoded next to true observations in a test episode", (MAZE,), (BASE,), "decoded",
           "Fig. S4 caption: 'the decoded image ... of the Tandem agent in task Point Mass Maze - Vision'",
           stand_ins={"smoke": {MAZE: "minatar/breakout"}}),  # decoded frames need a JAX-native image task
    _entry("figS5", "Fig. S5: Tandem_sameWM and Passive_sameWM(frozen)",
           ("dmc/hopper_hop-proprio", "dmc/quadruped_run-proprio"),
           (StudySpec("same_wm", ("active", "passive", "tandem", "tandem_same_wm", "passive_frozen_wm")),),
           "curves", "App. A.6: 'In tasks such as Hopper Hop - Proprio ... while it remains significant in others "
           "like Quadruped - Proprio'"),
    _entry("figS6", "Fig. S6: Passive agents initialised with the same or a different seed as their Active",
           FIG3_TASKS[:3], (StudySpec("init", ("active", "passive", "passive_same_init")),), "curves",
           NOT_NAMED.format("Fig. S6's tasks")),
    _entry("figS7", "Fig. S7: Tandem agents initialised as (1 - alpha) w_Active + alpha w_Tandem, one seed",
           (CHEETAH,),
           (StudySpec("alpha", ("active", "tandem", "tandem_alpha"),
                      (("tandem_alphas", (0.001, 0.01, 0.1, 0.5)), ("num_seeds", 1))),), "curves",
           "Fig. S7 caption: 'Results for one seed'; " + NOT_NAMED.format("its task")),
    _entry("figS8", "Fig. S8: Passive agents on different halves of the Active buffer", (MAZE,), (SPLITS,),
           "curves", "Fig. S8 caption: 'as shown in the schematic illustration on the Point Mass Maze - Vision'",
           stand_in=MAZE_PROPRIO),
    _entry("figS9", "Fig. S9: the best exploration bonus differs per task", (QUADRUPED, MAZE, PICK_PLACE),
           (EXPL_SWEEP,), "curves", "App. A.8.1: 'In Fig. S9, we show all three analyzed tasks ... 0.5 for task "
           "Quadruped Run - Vision, 0.9 for tasks Point Mass Maze - Vision and Pick-Place - Proprio'",
           stand_in=MAZE_PROPRIO, baseline="active (expl_weight=0)"),
    _entry("tableS2", "Table S2: self-generated data added by adaptive Passive agents, % of the Active buffer",
           TABLE_S2_TASKS, (StudySpec("adaptive", ("active", "passive_auto")),), "table",
           "Table S2: 'Percentage of added self-generated data by Passive+Auto interact agents', one row per "
           "task of the 31", stand_ins={"smoke": {**smoke(TABLE_S2_TASKS)["smoke"], MAZE_PROPRIO: MAZE_PROPRIO}},
           metrics=("self_generated_pct",)),
)}
