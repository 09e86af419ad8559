"""The time-to-accuracy section of the benchmark report: its table and its targets."""

from __future__ import annotations

from time_budget import FASTEST, LEVELS

# (label, what, goal): seconds to a level for the fastest documented command, or accuracy
TTA_TARGETS = (
    (FASTEST, 0.99, 5.0),
    (FASTEST, 0.995, 30.0),
    (("cnnlab lenet5 (card recipe)",), "best_accuracy", 0.988),
    (("cnnlab mnist-cnn (card recipe)",), "best_accuracy", 0.992),
)


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def tta_target_rows(section: dict | None) -> list[dict]:
    """Targets: the fastest cnnlab command (the quicker of the two fastcnn commands) reaches
    99.0% within 5 s and 99.5% within 30 s of training; the card recipes' best accuracy within
    the budget (lenet5 >= 98.8%, mnist-cnn >= 99.2%)."""
    contestants = (section or {}).get("contestants", {})
    rows = []
    for labels, what, goal in TTA_TARGETS:
        found = [(contestants[k], k) for k in labels if k in contestants]
        if what == "best_accuracy":
            target = f"{labels[0]}: best val accuracy within the budget"
            goal_text = f">= {goal:.1%}"
            value = found[0][0]["best_accuracy"] if found else None
            text = percent(value)
            passed = value is not None and value >= goal
        else:
            target = f"fastest cnnlab command: training s to {what:.1%}"
            goal_text = f"<= {goal:g} s"
            reached = [(s[f"seconds_to_{what}"], k) for s, k in found]
            reached = [(v, k) for v, k in reached if v is not None]
            value, label = min(reached) if reached else (None, None)
            text = f"{value:.1f} s ({label})" if value is not None else "not reached"
            passed = value is not None and value <= goal
        status = "n/a" if not found else ("PASS" if passed else "FAIL")
        rows.append(
            {
                "target": target,
                "goal": goal_text,
                "measured": value,
                "measured_text": text if found else "n/a",
                "result": status,
                "what_if": False,
            }
        )
    return rows


def tta_markdown_lines(section: dict | None) -> list[str]:
    """The table: per contestant the median over rounds of seconds to each level, best
    accuracy, epochs and training seconds used; each round's best accuracy."""
    if not section:
        return []
    if "skipped" in section:
        return ["## Time to accuracy", "", f"Skipped: {section['skipped']}.", ""]
    levels = " | ".join(f"s to {level:.1%}" for level in LEVELS)
    lines = [
        "## Time to accuracy (MNIST test[:8000] -> test[8000:])",
        "",
        "Each contestant trains in a fresh process with a budget of "
        f"{section['budget_seconds']:g} s of training wall time, validated on test[8000:] after "
        "every epoch. Training time = the "
        "sum of the epochs' wall times, each its training steps plus its validation, measured "
        "the same way for both (cnnlab's history `time`; Keras from `on_epoch_begin` to "
        "`on_epoch_end`); process start-up, imports, data loading and model building are "
        "excluded, the first epoch's warm-up (kernel selection, graph tracing) is included. "
        "Only epochs ending within the budget count; a contestant is stopped at the first "
        f"epoch end past it. Median over {section['rounds']} interleaved round(s) (of two, the "
        "worse); '-': not reached within the budget. The Keras example "
        "(keras.io/examples/vision/mnist_convnet): the same MNIST CNN with a softmax output, "
        "Adam at its default rate, categorical cross-entropy, batch 128, 15 epochs.",
        "",
        f"| contestant | {levels} | best val accuracy | epochs run | training s used "
        "| best per round | other jobs' CPU cores |",
        "|---|" + "---:|" * (len(LEVELS) + 3) + "---|---:|",
    ]
    for label, s in section["contestants"].items():
        cells = " | ".join(seconds(s[f"seconds_to_{level}"]) for level in LEVELS)
        per_round = ", ".join(
            percent(r["best_accuracy"]) + (" (failed)" if "error" in r else "") for r in s["runs"]
        )
        lines.append(
            f"| {label} | {cells} | {percent(s['best_accuracy'])} | {s['epochs_run']:g} "
            f"| {s['seconds']:.1f} | {per_round} | {s['other_cpu_cores']:.2f} |"
        )
    commands = "; ".join(f"{label}: `{command}`" for label, command in section["commands"].items())
    return [*lines, "", f"Commands: {commands}.", ""]
