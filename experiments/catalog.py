"""Every paper figure and table as one declarative entry: tasks per scale, studies, renderer.

`paper_tasks` are the tasks the paper shows for that figure or table, and `--scale paper`
runs exactly those: DMC vision tasks on the JAX backend (MJX physics drawn by the JAX ray
caster of envs/pixels; `--backend host` keeps dm_control's own frames) and Metaworld on host
simulators, which support every mechanism (bursts of self-generated data, swept axes, resume,
step traces). `paper_source`
quotes the caption or sentence that names them; where the paper's text does not name a
task (it is only in a figure panel, which the text version lacks), the source says so. The smoke and cpu scales replace
paper tasks by cheap JAX-native stand-ins (`stand_ins`); their titles name each stand-in.

Studies are shared wherever the paper's figures show the same agents: one task-oriented study
(Active, Passive-diff, Passive-same, Tandem) serves Figs. 2, 3, S2-S4, S6, S10 and S11, one
self-generated-data study Figs. 8, S12-S15 and Table S2, one pure-exploration study Figs. 6,
S16 and S17; a figure that shows fewer curves than its study trains lists them in `labels`.
Titles describe what is drawn, never a finding: every comparison is a t-test in the tables. They name no
swept value, seed count or step count: the renderer adds a line with those, read from the configs the
studies actually ran (experiments/render.py `settings_line`), so a cheaper scale's figure never shows
the paper's values over curves that used others.
"""

from __future__ import annotations

from experiments.spec import EVIDENCE_SCALES, Experiment, StudySpec, study_label

SMOKE_TASK = "debug/point_reach"
# The evidence scales' stand-in: JAX-native, the one pilot task whose Active scored above a random policy after
# 2K steps (10.3 vs 6.6, not clearly), and one whose Passive the paper found often out of distribution (10.4%
# added data in Table S2); experiments/results/evidence-cpu-2cores/README.md has the pilots.
EVIDENCE_TASK = "dmc/cheetah_run-proprio"
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

# Fig. S10's agents: "Passive-same" (passive_same_init) and "Passive-diff" (passive) beside Active and Tandem.
BASE = StudySpec("base", ("active", "passive", "passive_same_init", "tandem"))
BASE_LABELS = ("active", "passive", "tandem")  # Figs. 3 and S2 show these three
SPLITS = StudySpec("splits", ("active", "passive", "passive_expert", "passive_suboptimal", "passive_mixed"))
EXPL_SWEEP = StudySpec("expl_sweep", ("active", "passive", "tandem"),
                       (("expl_weights", (0.0, 0.1, 0.5, 0.9, 1.0)),))
TASK_ONLY_ACTIVE = "active (expl_weight=0)"  # the task-oriented Active of the swept study
# Fig. 8's study (App. A.8.3 shows the same agents on all 31 tasks): fixed N = 4K, 20K, 200K and adaptive.
SELF_GENERATED = StudySpec("self_generated", ("active", "passive", "passive_fixed", "passive_auto"),
                           (("fixed_intervals", (4_000, 20_000, 200_000)),),
                           scale_settings=(("smoke", (("fixed_intervals", (200, 400)),)),
                                           ("cpu", (("fixed_intervals", (500, 2_000)),))))
# Data of an Active-expl agent (w_expl = 1) and the agents trained on it (Fig. 6; App. A.8.4 with -same/-diff).
EXPL_DATA = StudySpec("expl_data", ("active", "passive", "passive_same_init", "tandem"), (("expl_weights", (1.0,)),))
FIG6_LABELS = tuple(study_label(agent, EXPL_DATA.name) for agent in ("active", "passive", "tandem"))
EXPL_LABELS = tuple(study_label(agent, EXPL_DATA.name) for agent in EXPL_DATA.agents)
THRESHOLDS = (2.0, 1.65, 1.35, 1.2)
# The evidence experiment's studies: one Active serves Figs. 3, 4 and 8's agents (one Active instead of three
# identical ones), and one Active-expl serves Fig. 6's. The paper's densest fixed schedule, N = 4K of 1M env
# steps, adds 50% of the buffer, as N = 512 does with 256-step bursts at the evidence scale (one fixed schedule:
# the scale's CPU budget has room for no more).
CORE = StudySpec("core", ("active", "passive", "tandem", "passive_expert", "passive_fixed", "passive_auto"),
                 SELF_GENERATED.settings,
                 scale_settings=(("smoke", (("fixed_intervals", (200, 400)),)),
                                 ("cpu", (("fixed_intervals", (500, 2_000)),)),
                                 *((scale, (("fixed_intervals", (512,)),)) for scale in EVIDENCE_SCALES)))
CORE_EXPL = StudySpec("expl_data", ("active", "passive", "tandem"), (("expl_weights", (1.0,)),))
# Which evidence study plays each role the findings name (offon_jit.analysis.evidence.FINDINGS).
EVIDENCE_ROLES = {"base": CORE.name, "splits": CORE.name, "self_generated": CORE.name, "expl_data": CORE_EXPL.name}
# Findings (a) and (b) alone need only these three agents: a study cheap enough to train longer.
ONLINE_OFFLINE = StudySpec("online_offline", ("active", "passive", "tandem"))
# Beyond the paper (its Q1): offline OOD signals logged by every agent (all train an ensemble for the
# disagreement signal), validated against the eval OOD ratio, and a Passive armed by the default offline
# signal (RunConfig.offline_signal: the ensemble disagreement ratio, the validation's winner) beside the paper's
# eval-armed one under the same burst budget. Thresholds from experiments/results/offline-ood-cpu-2cores: the
# evidence-scale Active ended at a disagreement ratio of 1.19 and the Passive at 1.35; its OOD ratio at 1.11.
OFFLINE_OOD = StudySpec("offline_ood", ("active", "passive", "tandem", "passive_auto", "passive_offline_auto"),
                        (("signal_ensemble", True), ("ood_thresholds", (1.1,)), ("offline_thresholds", (1.2, 1.3))))
# Beyond the paper (its Q3): w_expl set at run time (the "decay" rule, RunConfig.expl_decay = 1) against a fixed
# sweep, each Active with a Passive on its data.
EXPL_FIXED = StudySpec("expl_fixed", ("active", "passive"), (("expl_weights", (0.0, 0.1, 0.5, 1.0)),))
EXPL_ADAPTIVE = StudySpec("expl_adaptive", ("active", "passive"), (("expl_weights", (0.5, 1.0)), ("expl_decay", 1.0)))
SIGNAL_METRICS = ("ood_ratio", "offline_disag_ratio", "offline_kl_ratio", "offline_value_gap")


def smoke(paper_tasks: tuple[str, ...], default: str = SMOKE_TASK) -> dict:
    """Smoke (and cpu) stand-ins: every paper task runs `default`, except the vision maze, which runs its
    JAX-native proprio version (the heatmap and trace renderers read positions from its observation).
    The evidence scale runs EVIDENCE_TASK where the smoke scale runs SMOKE_TASK."""
    def stand_in(task: str, run: str) -> str:
        return MAZE_PROPRIO if task == MAZE else run

    evidence = EVIDENCE_TASK if default == SMOKE_TASK else default
    return {"smoke": {task: stand_in(task, default) for task in paper_tasks},
            **{scale: {task: stand_in(task, evidence) for task in paper_tasks} for scale in EVIDENCE_SCALES}}


def _entry(name, title, paper_tasks, studies, render, source, stand_in=SMOKE_TASK, **kwargs) -> Experiment:
    stand_ins = kwargs.pop("stand_ins", None) or smoke(paper_tasks, stand_in)
    return Experiment(name, title, paper_tasks, studies, render, stand_ins=stand_ins, paper_source=source, **kwargs)


# Beyond the paper (its Q2: "other RL methods"): the same agents for the model-free families (offon_jit/agents).
# One study per family trains what findings (a) and (c) read; it runs its family's own tasks at every scale
# (no stand-ins: DQN needs discrete actions, SAC continuous ones) with the family's replay defaults
# (experiments/spec.py), 5 seeds: the families are cheap enough for the power.
MODEL_FREE_TASKS = {"dqn": ("minatar/breakout", "minatar/space_invaders"), "sac": ("dmc/cheetah_run-proprio",)}
# Env steps per agent at the evidence scales, sized for a 2-core CPU (tens of minutes a study) and long enough
# for the Active to learn: SAC's 10K-step Active had not (experiments/results/model-free-cpu-2cores/README.md).
MODEL_FREE_EVIDENCE_STEPS = {"dqn": 200_000, "sac": 30_000}
# DQN stores MinAtar's own 10x10 grid (--frame-size 10: the same Q input, 1/10 of the 32x32 frames' memory).
MODEL_FREE_EVIDENCE_RUN = {"dqn": (("frame_size", 10),), "sac": ()}


# DQN's epsilon anneals over 25K updates (100K env steps, Young & Tian's MinAtar schedule); at the evidence
# scale it anneals over the first 20% of the run instead, so the Active acts as a trained DQN for most of it.
MODEL_FREE_EVIDENCE_MODEL = {"dqn": (("eps_decay_updates", MODEL_FREE_EVIDENCE_STEPS["dqn"] // 5 // 4),), "sac": ()}


def model_free_study(algo: str) -> StudySpec:
    steps = MODEL_FREE_EVIDENCE_STEPS[algo]
    evidence = (("num_seeds", 5), ("env_steps", steps), ("eval_interval", steps // 10), ("eval_episodes", 8),
                ("model_overrides", MODEL_FREE_EVIDENCE_MODEL[algo]), *MODEL_FREE_EVIDENCE_RUN[algo])
    return StudySpec(f"core_{algo}", ("active", "passive", "tandem", "passive_expert"), (("algo", algo),),
                     scale_settings=tuple((scale, (("algo", algo), *evidence)) for scale in EVIDENCE_SCALES))


def model_free_entries(algo: str, title: str) -> tuple[Experiment, ...]:
    """fig3_<algo> (curves) and evidence_<algo> (findings (a) and (c) with intervals and verdicts)."""
    study, tasks = model_free_study(algo), MODEL_FREE_TASKS[algo]
    own = {"smoke": {task: task for task in tasks}}
    source = "not a paper figure: the paper's closing question ('We plan to extend our experiments to other RL methods')"
    metrics = ("score", "eval_td_loss", "ood_ratio")
    return (
        _entry(f"fig3_{algo}", f"Beyond the paper (Q2): episode score, eval TD loss and OOD ratio of Active, Passive "
               f"and Tandem {title} agents", tasks, (study,), "curves", source, stand_ins=own, labels=BASE_LABELS,
               metrics=metrics),
        _entry(f"evidence_{algo}", f"Beyond the paper (Q2): findings (a) and (c) for {title} agents, with 95% "
               "intervals and verdicts", tasks, (study,), "evidence", source, stand_ins=own, metrics=metrics,
               options=(("roles", (("base", study.name), ("splits", study.name))),)),
    )


NOT_NAMED = "the paper's text does not name {}: unverified (only the figure's panel titles would settle it)"
# Figs. S10-S17 and Table S2 cover all 31 tasks; the smoke and cpu scales run the JAX-native maze as itself.
ALL_TASK_STAND_INS = {scale: {**mapping, MAZE_PROPRIO: MAZE_PROPRIO} for scale, mapping in smoke(TABLE_S2_TASKS).items()}
ALL_31 = "App. A.8: 'the complete results in 31 tasks' (Table S2's rows)"
WIDE_GRID = (("normalized", True), ("max_columns", 8))  # 31 tasks + the mean: four rows of eight panels

EXPERIMENTS = {e.name: e for e in (
    _entry("fig2", "Fig. 2: Active, Passive and Tandem agents in the point-mass maze (score, trajectories over "
           "buffer visitation and world-model loss)", (MAZE,), (BASE,), "maze_trajectories",
           "Fig. 2 caption: '2D point mass maze environment' (modality not stated). Vision: every time the paper "
           "names the maze's modality it is 'Point Mass Maze - Vision' (Figs. S3, S4, S8, S9; App. A.5 shows its "
           "final Tandem stuck in a novel region, as Fig. 2 does), and Table S2's adaptive Passive never needed "
           "data on the proprio maze (0.00%)", stand_in=MAZE_PROPRIO),
    _entry("fig3", "Fig. 3: episode score and eval world-model loss of Active, Passive and Tandem",
           FIG3_TASKS, (BASE,), "curves",
           "Fig. 3 caption: '4 selected tasks. The first two are from DMC and the last two are from the Metaworld "
           "domain'; Sec. 3.4/App. A.7: 'Quadruped Run - Vision and Pick-Place - Proprio ... in Fig. 3', A.7: "
           "'Basketball - Proprio and Pick-Place - Proprio'; " + NOT_NAMED.format("Cheetah Run - Vision"),
           labels=BASE_LABELS),
    _entry("fig4", "Fig. 4: Passive agents on expert, suboptimal and mixed halves of the Active buffer",
           FIG3_TASKS[:3], (SPLITS,), "curves", NOT_NAMED.format("Fig. 4's tasks")),
    _entry("fig5", "Fig. 5: state visitation of task-oriented, pure-exploration and mixed-reward Active "
           "buffers in the point-mass maze", (MAZE,),
           (StudySpec("expl_data", ("active",), (("expl_weights", (0.0, 1.0, 0.5)),)),), "visitation",
           "Fig. 5 caption: 'State visitation in the Point Mass Maze task ... (d) mixed reward ... w_expl = 0.5'; "
           "the paper's only maze run with w_expl = 0.5 is Fig. S9's 'Point Mass Maze - Vision' (App. A.8.1)",
           stand_in=MAZE_PROPRIO, reference=TASK_ONLY_ACTIVE),
    _entry("fig6", "Fig. 6: training on pure exploration data (of an Active-expl agent) vs the task-oriented "
           "Active baseline", FIG3_TASKS[:3],
           (BASE, EXPL_DATA), "curves", "Sec. 4.1: 'in two challenging tasks - Quadruped Run - Vision and "
           "Pick-Place - Proprio - ... as shown in Fig. 6'; " + NOT_NAMED.format("Cheetah Run - Vision"),
           baseline="active", labels=FIG6_LABELS),
    _entry("fig7", "Fig. 7: Active, Passive and Tandem agents per exploration bonus w_expl", (QUADRUPED,),
           (EXPL_SWEEP,), "curves", "Sec. 4.1: 'in Fig. 7, we show that pure exploration is hardly the best option "
           "for the hard tasks like Quadruped Run - Vision'", baseline=TASK_ONLY_ACTIVE, reference=TASK_ONLY_ACTIVE),
    _entry("fig8", "Fig. 8: Passive agents with fixed (every N env steps) and adaptive (OOD ratio above τ) "
           "self-generated data",
           FIG8_TASKS, (SELF_GENERATED,), "curves",
           "Fig. 8 caption: 'adds 6.5% self-generated data in Cheetah Run - Vision, 2.9% in Quadraped "
           "Run - Vision, 9.8% in Pick-Place - Proprio, and 0.5% in Spaceinvaders'",
           metrics=("score", "eval_wm_loss", "self_generated_pct")),
    _entry("figS1", "Fig. S1: OOD-ratio thresholds τ for adaptive Passive agents",
           (CHEETAH, QUADRUPED, "minatar/space_invaders"),
           (StudySpec("thresholds", ("active", "passive_auto"), (("ood_thresholds", THRESHOLDS),)),),
           "curves", "Fig. S1 caption: 'four threshold values ... in three tasks'; "
           + NOT_NAMED.format("the three (here: Fig. 8's tasks other than Pick-Place)"),
           metrics=("score", "ood_ratio", "self_generated_pct"), options=(("normalized", True),)),
    _entry("figS2", "Fig. S2: value error, critic V(s0) minus the Monte-Carlo return", FIG3_TASKS, (BASE,),
           "curves", NOT_NAMED.format("Fig. S2's tasks (here: Fig. 3's, whose studies it shares)"),
           metrics=("value_error", "score"), labels=BASE_LABELS),
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
           FIG3_TASKS[:3], (BASE,), "curves", NOT_NAMED.format("Fig. S6's tasks"),
           labels=("active", "passive", "passive_same_init")),
    _entry("figS7", "Fig. S7: Tandem agents initialised as (1 - α) w_Active + α w_Tandem",
           (CHEETAH,),
           (StudySpec("alpha", ("active", "tandem", "tandem_alpha"),
                      (("tandem_alphas", (0.001, 0.01, 0.1, 0.5)), ("num_seeds", 1))),), "curves",
           "Fig. S7 caption: 'Results for one seed'; " + NOT_NAMED.format("its task")),
    _entry("figS8", "Fig. S8: Passive agents on different halves of the Active buffer", (MAZE,), (SPLITS,),
           "curves", "Fig. S8 caption: 'as shown in the schematic illustration on the Point Mass Maze - Vision'",
           stand_in=MAZE_PROPRIO),
    _entry("figS9", "Fig. S9: Active, Passive and Tandem agents per exploration bonus w_expl, per task",
           (QUADRUPED, MAZE, PICK_PLACE),
           (EXPL_SWEEP,), "curves", "App. A.8.1: 'In Fig. S9, we show all three analyzed tasks ... 0.5 for task "
           "Quadruped Run - Vision, 0.9 for tasks Point Mass Maze - Vision and Pick-Place - Proprio'",
           stand_in=MAZE_PROPRIO, baseline=TASK_ONLY_ACTIVE, reference=TASK_ONLY_ACTIVE),
    _entry("evidence", "The paper's findings (a)-(e) as comparisons with 95% intervals and verdicts: Figs. 3, 4, 6 "
           "and 8 from one task-oriented and one pure-exploration study", FIG3_TASKS[:3], (CORE, CORE_EXPL),
           "evidence", "Figs. 3, 4, 6 and 8 (see those entries); at paper scale the three tasks Figs. 4 and 6 share "
           "with Fig. 3", metrics=("score", "eval_wm_loss", "ood_ratio", "self_generated_pct"),
           options=(("roles", tuple(EVIDENCE_ROLES.items())),)),
    _entry("evidence_ab", "The paper's findings (a) and (b) (Active vs Passive and Tandem: score, eval world-model "
           "loss, OOD ratio) with 95% intervals and verdicts, from one Active/Passive/Tandem study", FIG3_TASKS,
           (ONLINE_OFFLINE,), "evidence", "Fig. 3 (see that entry)",
           metrics=("score", "eval_wm_loss", "ood_ratio"), options=(("roles", (("base", ONLINE_OFFLINE.name),)),)),
    _entry("tableS2", "Table S2: self-generated data added by adaptive Passive agents, % of the Active buffer",
           TABLE_S2_TASKS, (SELF_GENERATED,), "table",
           "Table S2: 'Percentage of added self-generated data by Passive+Auto interact agents', one row per "
           "task of the 31", stand_ins=ALL_TASK_STAND_INS, metrics=("self_generated_pct",)),
    _entry("figS10", "Fig. S10: episode score of Active, Passive-same (passive_same_init), Passive-diff (passive) "
           "and Tandem on 31 tasks, with the normalised mean score", TABLE_S2_TASKS, (BASE,), "curves",
           "Fig. S10 caption: 'Episode score of 31 tasks. The first 18 tasks are from DMC, the subsequent 8 tasks "
           "are from Metaworld, and the last 5 are from the MinAtar domain ... Passive-same ... Passive-diff'; "
           + ALL_31, stand_ins=ALL_TASK_STAND_INS, metrics=("score",), options=WIDE_GRID),
    _entry("figS11", "Fig. S11: world-model loss of Active, Passive-same (passive_same_init), Passive-diff (passive) "
           "and Tandem on 31 tasks, with the normalised mean", TABLE_S2_TASKS, (BASE,), "curves",
           "Fig. S11 caption: 'World model loss of 31 tasks. In the last subplot, we show an additional normalized "
           "mean result across tasks'; " + ALL_31, stand_ins=ALL_TASK_STAND_INS, metrics=("eval_wm_loss",),
           options=WIDE_GRID),
    _entry("figS12", "Fig. S12: episode score of Passive agents with fixed (every N env steps) and adaptive "
           "self-generated data on 31 tasks, with the normalised mean score", TABLE_S2_TASKS, (SELF_GENERATED,),
           "curves", "Fig. S12 caption: 'Episode score of 31 tasks'; App. A.8.3: 'we allow the Passive agents "
           "utilize the self-generated data'; " + ALL_31, stand_ins=ALL_TASK_STAND_INS, metrics=("score",),
           options=WIDE_GRID),
    _entry("figS13", "Fig. S13: world-model loss of Passive agents with fixed (every N env steps) and adaptive "
           "self-generated data on 31 tasks, with the normalised mean", TABLE_S2_TASKS, (SELF_GENERATED,), "curves",
           "Fig. S13 caption: 'World model loss of 31 tasks'; App. A.8.3; " + ALL_31, stand_ins=ALL_TASK_STAND_INS,
           metrics=("eval_wm_loss",), options=WIDE_GRID),
    _entry("figS14", "Fig. S14: OOD ratio of Passive agents with fixed (every N env steps) and adaptive "
           "self-generated data on 31 tasks, with the mean across tasks", TABLE_S2_TASKS, (SELF_GENERATED,),
           "curves", "Fig. S14 caption: 'OOD ratio of 31 tasks. In the last subplot, we show an additional mean "
           "result across tasks'; " + ALL_31, stand_ins=ALL_TASK_STAND_INS, metrics=("ood_ratio",),
           options=WIDE_GRID),
    _entry("figS15", "Fig. S15: normalised mean score over 31 tasks against the self-generated data added, per "
           "Passive agent allowed to interact", TABLE_S2_TASKS, (SELF_GENERATED,), "added_data",
           "Fig. S15 caption: 'The y-axis is the average normalized episode score across 31 tasks. The x-axis shows "
           "how many self-generated interaction data are added to the replay buffer'", stand_ins=ALL_TASK_STAND_INS,
           metrics=("score", "self_generated_pct")),
    _entry("figS16", "Fig. S16: episode score of agents on pure-exploration data (Active-expl, and Passive-same, "
           "Passive-diff and Tandem trained on its data) on 31 tasks, with the normalised mean score; "
           "dashed: the task-oriented Active's final score", TABLE_S2_TASKS, (BASE, EXPL_DATA), "curves",
           "Fig. S16 caption: 'Episode score of 31 tasks using agents with pure exploration rewards. We also show "
           "the final performance of a task-oriented Active agent as the baseline in black dashed horizontal "
           "lines'; App. A.8.4: '-same' / '-diff'; " + ALL_31, stand_ins=ALL_TASK_STAND_INS, metrics=("score",),
           baseline="active", labels=EXPL_LABELS, options=WIDE_GRID),
    _entry("offline_ood", "Beyond the paper (Q1): offline OOD signals against the eval OOD ratio, and Passive agents "
           "armed by the eval OOD ratio or by an offline signal", FIG8_TASKS, (OFFLINE_OOD,), "offline_ood",
           "not a paper figure: the paper's open question Q1 ('an offline measure would be desirable'); Fig. 8's "
           "tasks, where the paper ran its adaptive agent",
           metrics=("score", *SIGNAL_METRICS, "self_generated_pct")),
    _entry("adaptive_wexpl", "Beyond the paper (Q3): w_expl adapted at run time (decay rule) vs fixed w_expl",
           (QUADRUPED,), (EXPL_FIXED, EXPL_ADAPTIVE), "curves",
           "not a paper figure: the paper's open question Q3 (w_expl's best value depends on the task); Fig. 7's "
           "task, where the paper swept w_expl", metrics=("score", "eval_wm_loss", "train_expl_weight_eff"),
           reference=TASK_ONLY_ACTIVE, options=(("normalized", False),)),
    _entry("figS17", "Fig. S17: world-model loss of agents on pure-exploration data (Active-expl, and "
           "Passive-same, Passive-diff and Tandem trained on its data) on 31 tasks, with the "
           "normalised mean", TABLE_S2_TASKS, (BASE, EXPL_DATA), "curves",
           "Fig. S17 caption: 'World model loss of 31 tasks using agents with pure exploration rewards'; "
           + ALL_31, stand_ins=ALL_TASK_STAND_INS, metrics=("eval_wm_loss",), labels=EXPL_LABELS,
           options=WIDE_GRID),
    *model_free_entries("dqn", "Double DQN (MinAtar)"),
    *model_free_entries("sac", "SAC (DMC proprio)"),
)}
