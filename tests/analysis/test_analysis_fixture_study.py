"""The analysis on a study tree with known numbers (written here, no training).

Phase 1: s1, s2, s23, s34 with one seed, s3 and s4 with two; s234 partial, s1234 FAILED.
Phase 2 on s4: test AP = 84 + 1·[r8] + 3·[mb1] (r8 is1 mb1 only 87.5), r4/r8 is0 mb0 with
two seeds. Every two-seed configuration has seeds mean ± 1, so the pooled seed σ is √2.
Val AP = test AP + 1, except s1 (86.5: best of phase 1 on val, poor on test). The final
val − train loss gap is 0.3 for r4 and 0.1 for r8 (± 0.01 over seeds). A no-fusion
baseline (test 76 and 78) lives below the study folder, and a CSSA run trained with
other settings, which must never serve as a reference.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from projects_gaff.analysis import analyse, load_results, write_report
from projects_gaff.analysis.findings import conclude
from projects_gaff.analysis.report import PLOTS
from projects_gaff.study.plan import GaffConfig

# matplotlib's font-config parser calls pyparsing names that pyparsing 3.3 deprecated

P1, P2 = "phase1_stage_selection", "phase2_hyperparameter_tuning"
FUSION = "fusion_comparison"  # tools/ablate.py --study fusion, same --output-base
SIGMA = math.sqrt(2)
# 2 SE of a mean over 4 pairs whose sizes sum 1/n to 7 (see the module docstring)
PAIR_THRESHOLD = 2 * SIGMA * math.sqrt(7) / 4


def write_run(
    folder: Path,
    test: float,
    *,
    val: float | None = None,
    seed: int = 0,
    gap: float = 0.2,
    gaff: int = 1000,
    yaml: str | None = None,
) -> None:
    """What the engine leaves in a finished run folder (the fields the analysis reads)."""
    folder.mkdir(parents=True)
    val = test + 1 if val is None else val

    def coco(ap: float) -> dict:
        return {"AP": ap, "AP50": ap + 10, "AP75": ap - 5, "APs": ap - 20, "APm": ap, "APl": None}

    final = {
        "val": coco(val), "test": coco(test), "best_epoch": 3, "training_hours": 1.0 + gaff / 1e7,
        "inference_fps": 20.0, "peak_memory_mb": 900.0, "completed_at": "2026-01-01T00:00:00",
    }  # fmt: skip
    (folder / "final_results.json").write_text(json.dumps(final))
    info = {"parameters": {"total": 10_000_000 + gaff, "gaff_total": gaff}, "gflops": 50.0}
    (folder / "model_info.json").write_text(json.dumps(info))
    settings = {"seed": seed, "backbone": "mit_b1", "epochs": 3, "batch_size": 16}
    (folder / "config.json").write_text(json.dumps(settings))
    rows = ["epoch,train_total_loss,val_total_loss,val_AP,is_best"]
    rows += [
        f"{e},{1.0 / e:.4f},{1.0 / e + gap * e / 3:.4f},{val * e / 3:.3f},1" for e in (1, 2, 3)
    ]
    (folder / "metrics_per_epoch.csv").write_text("\n".join(rows) + "\n")
    if yaml is not None:
        (folder / "config.yaml").write_text(yaml)


def seeds(folder: Path, mean: float, *, gap: float, gaff: int, val_offset: float = 1.0) -> None:
    """Two seeds at mean ± 1 (test and val), gaps at gap ± 0.01."""
    for seed, delta in ((0, -1.0), (1, 1.0)):
        name = folder.name + (f"_seed{seed}" if seed else "")
        write_run(folder.parent / name, mean + delta, val=mean + delta + val_offset, seed=seed,
                  gap=gap + delta / 100, gaff=gaff)  # fmt: skip


@pytest.fixture
def study(tmp_path: Path) -> Path:
    base = tmp_path / "study"
    p1 = base / P1
    write_run(p1 / "exp_001_s1_r4_is0_mb0", 80.0, val=86.5, gaff=28_800)
    write_run(p1 / "exp_002_s2_r4_is0_mb0", 79.0, gaff=114_944)
    seeds(p1 / "exp_003_s3_r4_is0_mb0", 81.0, gap=0.2, gaff=717_440)
    seeds(p1 / "exp_004_s4_r4_is0_mb0", 84.0, gap=0.3, gaff=1_836_032)
    write_run(p1 / "exp_005_s23_r4_is0_mb0", 82.0, gaff=832_384)
    write_run(p1 / "exp_006_s34_r4_is0_mb0", 83.0, gaff=2_553_472)
    (p1 / "exp_007_s234_r4_is0_mb0" / "checkpoints").mkdir(parents=True)
    (p1 / "exp_007_s234_r4_is0_mb0" / "checkpoints" / "last_checkpoint").write_text("x")
    (p1 / "exp_008_s1234_r4_is0_mb0").mkdir()
    (p1 / "exp_008_s1234_r4_is0_mb0" / "failed.json").write_text(
        json.dumps({"reason": "loss became NaN/inf", "returncode": 3})
    )
    p2 = base / P2
    for number, (r, shared, mb) in enumerate(
        [(4, 0, 1), (4, 1, 0), (4, 1, 1), (8, 0, 0), (8, 0, 1), (8, 1, 0), (8, 1, 1)], start=9
    ):
        folder = p2 / f"exp_{number:03d}_s4_r{r}_is{shared}_mb{mb}"
        test = 84.0 + (r == 8) + 3 * mb - 0.5 * (r == 8 and shared and mb)
        gap, gaff = (0.3 if r == 4 else 0.1), 1_836_032 - 100_000 * (r == 8) + 500_000 * mb
        if (r, shared, mb) == (8, 0, 0):
            seeds(folder, test, gap=gap, gaff=gaff)
        else:
            write_run(folder, test, gap=gap, gaff=gaff)
    (base / "phase2_selection.json").write_text(json.dumps({"selection": ["s4"]}))
    none_yaml = "MODEL:\n  GAFF:\n    STAGES: []\n  FUSION:\n    TYPE: none\n"
    for seed, test in ((0, 76.0), (1, 78.0)):
        name = "exp_101_none" + (f"_seed{seed}" if seed else "")
        write_run(base / FUSION / name, test, seed=seed, gaff=0, yaml=none_yaml)
    # CSSA trained for 30 epochs instead of 3: listed, never a reference
    cssa = base / FUSION / "exp_105_cssa_t05_s23"
    write_run(cssa, 90.0, gaff=20, yaml="MODEL:\n  FUSION:\n    TYPE: cssa\n")
    (cssa / "config.json").write_text(json.dumps({"seed": 0, "backbone": "mit_b1", "epochs": 30}))
    return base


def test_loading_finds_runs_seeds_extras_and_what_is_missing(study):
    data = load_results(study, extra=[study / FUSION])  # found twice, counted once
    assert len(data.grid) == 6 + 7 and data.phase2_stage_sets == ("s4",) and data.seeds == 2
    assert len(data.grid[GaffConfig((4,), 8)].runs) == 2
    assert "exp_007_s234_r4_is0_mb0: partial" in data.missing
    assert "exp_008_s1234_r4_is0_mb0: FAILED (loss became NaN/inf)" in data.missing
    assert "exp_001_s1_r4_is0_mb0 seed 1: pending" in data.missing  # two seeds planned
    extras = [(c.label, c.method, len(c.runs), c.differs) for c in data.extras]
    assert extras == [
        ("exp_101_none", "none", 2, ""),
        ("exp_105_cssa_t05_s23", "cssa", 1, "epochs 30 vs 3"),
    ]


def test_noise_effects_rankings_and_verdicts(study):
    a = analyse(load_results(study))
    assert a.noise.sigma == pytest.approx(SIGMA) and a.noise.configurations == 3
    assert a.gap_noise.sigma == pytest.approx(0.01 * SIGMA)
    found = {f.hypothesis.code: f for f in a.findings}
    expected = {  # value, pairs, pairs > 0, verdict
        "H1": (-0.875, 4, 0, "not shown"),
        "H2": (0.125, 4, 1, "not shown"),
        "H3": (2.875, 4, 4, "supported"),
        "H4": (0.2, 4, 4, "supported"),
    }
    for code, (value, pairs, agreeing, verdict) in expected.items():
        finding = found[code]
        assert finding.effect.estimate.value == pytest.approx(value), code
        assert (len(finding.effect.pairs), finding.effect.agreeing) == (pairs, agreeing), code
        assert finding.verdict == verdict, code
    assert found["H1"].effect.estimate.threshold == pytest.approx(PAIR_THRESHOLD)
    assert found["H4"].effect.estimate.threshold == pytest.approx(0.01 * PAIR_THRESHOLD)

    # phase 1 ranks on val (s1 first), never on test (where s1 is second to last)
    keys = [r.key for r in a.phase1_ranking]
    assert keys == [f"{s}_r4_is0_mb0" for s in ("s1", "s4", "s34", "s23", "s3", "s2")]
    within = {r.key[:3]: r.within_noise_of_best for r in a.phase1_ranking}
    # s4 (85, 2 seeds) vs s1 (86.5, 1 seed): 1.5 < 2√2·√1.5; s2 (80): 6.5 > 2√2·√2
    assert within["s4_"] is True and within["s2_"] is False
    assert a.best.key == "s4_r8_is0_mb1"
    assert a.reference("none").label == "exp_101_none" and a.reference("cssa") is None


def test_conclusions_carry_the_verdicts_before_any_text(study):
    """The findings the report renders, as values: verdicts, expectations, the winner and by
    how much, the recommendation and the commands that would train the missing references."""
    c = conclude(analyse(load_results(study)))
    assert c.verdicts == {
        "H1": "not shown", "H2": "not shown", "H3": "supported", "H4": "supported",
    }  # fmt: skip
    places = {
        e.place: (e.found.gaff.stage_label, e.met, [g[0] for g in e.gaps]) for e in c.expectations
    }
    assert places == {
        "Best single stage": ("s1", False, ["s3"]),  # s1 wins on val, the guide expected s3
        "Best multi-stage set": ("s34", True, []),
        "Worst stage set": ("s2", False, ["s1"]),
    }
    assert c.best.key == "s4_r8_is0_mb1" and c.best not in c.tied
    assert c.cheapest.key == "s1_r4_is0_mb0" and c.cheapest in c.tied
    none = c.versus["none"]
    assert none.reference.label == "exp_101_none"
    assert none.gain.value == pytest.approx(11.0) and none.gain.outcome == "positive"
    assert c.versus["cssa"].reference is None and c.versus["cssa"].gain is None
    assert "--study fusion --only exp_104,exp_105,exp_106" in c.versus["cssa"].command
    assert "--study modality --only exp_201" in c.versus["rgb"].command


@pytest.mark.slow
def test_report_has_every_section_table_and_figure(study, tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "phase2_heatmap.png").write_bytes(b"stale")  # replaced, not kept
    report = write_report(analyse(load_results(study)), out)
    text = report.read_text()
    for name in PLOTS:
        png = out / f"{name}.png"
        if name == "phase1_miss_rate":  # drawn only for runs with miss rates; these have none
            assert not png.exists() and f"{name}.png" not in text
            continue
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name}.png)" in text, name
    for needle in (
        "| [4] s4 | 2 | 84.00 ± 1.41 |",  # stage-wise table: mean ± seed std
        "| [2, 3, 4] s234 | 0 | not finished |",
        "| Top #1 s4 | 8 | False | True | 88.00 | +4.00 (2 SE 3.46) | yes |",
        "| H3 | Bottleneck merge adds expressiveness | mb1 > mb0 in AP | +2.88 | 1.87 | 4 (4) "
        "| yes | supported |",
        "**not shown**: r4 − r8 = -0.88 AP, within the seed noise (2 SE 1.87)",
        "Pairs (r4 − r8): s4 is0 mb0 -1.00; s4 is0 mb1 -1.00; s4 is1 mb0 -1.00; s4 is1 mb1 -0.50.",
        "σ(test AP) = 1.41, pooled over 3 configurations with ≥ 2 seeds (3 degrees of freedom)",
        "same family of functions",  # the is0/is1 note
        "- exp_008_s1234_r4_is0_mb0: FAILED (loss became NaN/inf)",
        "### GAFF vs CSSA\n\nNot run: no CSSA run with the study's settings found.",
        "- exp_105_cssa_t05_s23 was trained with other settings than the study "
        "(epochs 30 vs 3): listed, but not used as a reference",
        "| mAP | 77.00 ± 1.41 | 88.00 | +11.00 (2 SE 3.46) | GAFF |",
        "**Best configuration**: `s4_r8_is0_mb1`, #1 of 13 on val AP (89.00, 1 seed(s)); "
        "test AP 88.00.",
        "The cheapest of them, `s1_r4_is0_mb0` (28.8K GAFF parameters vs 2.24M",
        "Expected gain vs the no-fusion baseline (`exp_101_none`, test AP 77.00 ± 1.41): "
        "+11.00 AP, beyond the seed noise (2 SE 3.46).",
        "Small objects (test APs): early single stages (s1, s2) 59.50 vs late (s3, s4) 62.50: "
        "early − late = -3.00 AP, beyond the seed noise (2 SE 2.45).",
    ):
        assert needle in text, needle


def test_memory_panel_shows_each_stage_sets_seed_mean_against_no_fusion(study):
    from matplotlib.figure import Figure

    from projects_gaff.analysis.plots import _memory_bars

    def set_memory(run: str, mb: float) -> None:
        path = study / P1 / run / "final_results.json"
        final = json.loads(path.read_text())
        path.write_text(json.dumps({**final, "peak_memory_mb": mb}))

    set_memory("exp_001_s1_r4_is0_mb0", 1024.0)
    set_memory("exp_003_s3_r4_is0_mb0", 2048.0)
    set_memory("exp_003_s3_r4_is0_mb0_seed1", 3072.0)
    a = analyse(load_results(study, extra=[study / FUSION]))
    ax = Figure().add_subplot()
    _memory_bars(ax, a, a.study.phase1())
    heights = [round(bar.get_height(), 3) for bar in ax.patches]
    # s1, s2, s3 (mean of two seeds), s4, s23, s34; s234 and s1234 never finished
    assert heights == [1.0, 0.879, 2.5, 0.879, 0.879, 0.879]
    assert [t.get_text() for t in ax.texts].count("not finished") == 2
    (baseline,) = ax.get_lines()[-1:]
    assert baseline.get_ydata()[0] == pytest.approx(900 / 1024)  # the no-fusion runs


@pytest.mark.slow
def test_partial_study_reports_what_is_missing(tmp_path):
    base = tmp_path / "study"
    write_run(base / P1 / "exp_003_s3_r4_is0_mb0", 81.0)
    out = tmp_path / "out"
    out.mkdir()
    (out / "phase2_heatmap.png").write_bytes(b"stale")  # from an earlier, fuller analysis
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "analyze.py"), "--output-base", str(base),
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "H1 r4 − r8: n/a → not testable" in result.stdout
    text = (out / "report.md").read_text()
    assert "Configurations finished: 1 of 8 planned" in text
    assert "- exp_001_s1_r4_is0_mb0: pending" in text
    assert "- phase 2: not started" in text
    assert "Phase 2 has not run yet" in text
    assert '81.7–83.8 AP (2.1 points, README.md, "Analysis")' in text  # one seed: noise unknown
    assert "Gain vs the no-fusion baseline: unknown (no-fusion baseline not run)." in text
    drawn = {p.stem for p in out.glob("*.png")}
    assert drawn == {"phase1_ap", "phase1_ap50_ap75", "phase1_sizes", "phase1_cost",
                     "curves_phase1"}  # fmt: skip


@pytest.mark.parametrize("name", ["nope", "empty"])
def test_cli_refuses_what_is_not_a_study(tmp_path, name):
    (tmp_path / "empty").mkdir()
    analyze = [sys.executable, str(REPO_ROOT / "tools" / "analyze.py")]
    result = subprocess.run(
        [*analyze, "--output-base", str(tmp_path / name)], capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stderr.startswith("error: "), result.stderr
    assert not (tmp_path / name / "report.md").exists()


def test_analysis_imports_without_torch():
    code = "import sys, projects_gaff.analysis; assert 'torch' not in sys.modules, 'torch'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "fusion, settings, method",
    [
        ({"TYPE": "concat"}, {}, "concat"),
        ({"TYPE": "concat", "LATE": True}, {}, "late_concat"),
        ({"TYPE": "xattn"}, {}, "xattn"),
        ({"TYPE": "gaff", "LATE": True}, {}, "other"),  # a late fusion the study has no row for
        ({"TYPE": "none", "LATE": True}, {}, "none"),  # nothing fuses: LATE means nothing
        (None, {"fusion_type": "concat", "fusion_late": True}, "late_concat"),  # config.json only
    ],
)
def test_a_runs_fusion_method_is_read_from_its_config(fusion, settings, method):
    from projects_gaff.analysis.load import fusion_method

    config = {} if fusion is None else {"MODEL": {"GAFF": {"STAGES": [2, 3]}, "FUSION": fusion}}
    assert fusion_method(config, {"gaff_stages": [2, 3], **settings}) == method
