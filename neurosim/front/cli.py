"""The `neurosim` command (docs/formats.md): a thin layer over the Python API.

Exit status: 0 success, 1 a check failed (a bound violated), 2 bad input.
Bad input is reported as one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from neurosim.data import strict_json
from neurosim.errors import BoundViolation, InputError


def _bound(args: argparse.Namespace) -> int:
    from neurosim.bounds.report import bound_report
    from neurosim.data.counts import failure_counts, per_layer
    from neurosim.data.network import load_network

    target = Path(args.target)
    epsilon = args.epsilon
    if target.suffix.lower() == ".joblib":
        raise InputError(str(target), None, "a scikit-learn model: convert it first "
                         f"(neurosim convert {target} NET.npz), then bound NET.npz")
    if target.suffix.lower() in (".npz", ".onnx"):
        net = load_network(target)
        try:
            failures = failure_counts(net, crash=args.crash, capacity=1.0)
        except ValueError as err:
            raise InputError(str(target), "--crash", str(err)) from None
        quorum = plan = None
        precision = bits = None
        random = False
    else:
        from neurosim.data.scenario import load_scenario
        from neurosim.setup import prepare

        scn = load_scenario(target)
        _note_sweep(scn, "bound")
        setup = prepare(scn)
        net, failures, quorum = setup.net, setup.failures, setup.quorum
        plan = setup.quorum_plan
        precision, bits = scn.failures.precision, scn.failures.bits
        random = (scn.failures.crash_probability is not None
                  or scn.failures.synapse_crash_probability is not None)
        if epsilon is None:
            epsilon = scn.firing.epsilon
    report = bound_report(net, failures, epsilon)
    if bits is not None:
        report["bits_per_layer"] = per_layer(bits, net.depth + 1, "bits")
    if epsilon is not None:
        report.update(_bits_question(net, failures, epsilon, precision))
    if random:
        from neurosim.applications import expected_keys

        report.update(expected_keys(setup))
    if quorum is not None:
        report["quorum_per_layer"] = quorum
    if plan is not None:
        report["quorum_plan"] = plan
    if args.json:
        print(strict_json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


def _note_sweep(scn, command: str) -> None:
    """Say on stderr that `command` takes the base scenario, not its [sweep] grid: a
    scenario with a grid ran its base point alone, silently."""
    if scn.sweep:
        from neurosim.sweep import grid

        print(f"neurosim: note: {scn.source}: {command} takes the base scenario, not its "
              f"[sweep] grid of {len(grid(scn))} points (neurosim sweep runs them)",
              file=sys.stderr)


def _bits_question(net, failures, epsilon: float, precision) -> dict[str, Any]:
    """The fewest weight bits whose bound fits epsilon (`neurosim.bounds.bits`)."""
    from neurosim.bounds.bits import bits_report
    from neurosim.bounds.linear_intervals import network_intervals
    from neurosim.bounds.paper import paper_fep
    from neurosim.bounds.weight_aware import weight_aware_bound
    from neurosim.data.counts import per_layer

    iv = network_intervals(net)
    base = None if precision is None else per_layer(precision, net.depth + 1, "precision")
    return bits_report(net, failures, epsilon, {
        "weight_aware": lambda f: weight_aware_bound(net, f, intervals=iv),
        "paper": lambda f: paper_fep(net, f).fep}, base)


def format_report(r: dict[str, Any]) -> str:
    """The bound report as a readable table."""
    lines = [f"network {'-'.join(map(str, r['sizes']))}  activations {', '.join(r['activations'])}"]
    head = f"{'layer':>5} {'N':>6} {'missing':>8} {'corrupt':>8} {'eta':>8} {'B':>10} " \
           f"{'w_max':>10} {'K':>6} {'Fep part':>12}"
    lines += ["", head, "-" * len(head)]
    for l, n in enumerate(r["sizes"][1:], start=1):
        k = r["lipschitz_per_layer"][l - 1] if l <= len(r["lipschitz_per_layer"]) else 1.0
        lines.append(
            f"{l:>5} {n:>6} {r['missing_per_layer'][l - 1]:>8} {r['corrupted_per_layer'][l - 1]:>8}"
            f" {r['precision_per_layer'][l - 1]:>8.3g} {r['B_per_layer'][l - 1]:>10.4g}"
            f" {r['w_max_per_layer'][l - 1]:>10.4g} {k:>6.3g}"
            f" {r['paper_contribution_per_layer'][l - 1]:>12.4g}")
    lines += [
        "",
        "(missing/corrupt: signals from layer l-1 that each receiver of layer l loses; "
        "B: bound on |y| of layer l-1)",
        "",
        f"paper Fep (at most the counts)         {r['bound_paper']:.6g}",
        f"weight-aware, global K                 {r['bound_weight_aware_global_k']:.6g}",
        f"weight-aware, local slopes             {r['bound_weight_aware']:.6g}",
        f"signed (linear bounds, signs kept)     {r['bound_signed']:.6g}",
    ]
    if "epsilon" in r:
        lines += [
            "",
            f"epsilon - epsilon' = {r['epsilon']:.6g}: tolerated by paper Fep: "
            f"{r['tolerated_paper']}, by weight-aware: {r['tolerated_weight_aware']}, "
            f"by signed: {r['tolerated_signed']}",
            f"largest crashes tolerated, one hidden layer at a time (no other missing "
            f"signal): paper {r['max_crashes_paper']}, weight-aware "
            f"{r['max_crashes_weight_aware']}, signed {r['max_crashes_signed']}",
        ]
    if "fewest_bits_weight_aware" in r:
        for name, label in (("weight_aware", "weight-aware"), ("paper", "paper Fep")):
            b, per = r[f"fewest_bits_{name}"], r[f"fewest_bits_per_layer_{name}"]
            lines.append(
                f"fewest weight bits within epsilon ({label}): " + (
                    "none (the bound exceeds epsilon even at 32 bits)" if b is None else
                    f"{b} in every layer, or per layer 1..L+1 {per} "
                    f"(memory saved vs float32: {100 * r[f'memory_saved_{name}']:.1f}%)"))
    if "expected_error_bound" in r:
        lines.append(
            f"random failures (crash probability per hidden layer {r['crash_probability']}, "
            f"per synapse into layers 1..L+1 {r['synapse_crash_probability']}): expected "
            f"missing signals per receiver {[round(x, 3) for x in r['expected_missing']]}; "
            f"mean error at most {r['expected_error_bound']:.6g} (weight-aware), "
            f"{r['expected_error_bound_paper']:.6g} (paper Fep)")
    if "bits_per_layer" in r:
        lines.append(f"weights stored in {r['bits_per_layer']} bits per layer 1..L+1 "
                     "(eta above: half a quantization step)")
    if "quorum_per_layer" in r:
        lines.append(f"quorum per layer 1..L+1: {r['quorum_per_layer']} (the bounds above "
                     "count the skipped signals as missing)")
    if "quorum_plan" in r:
        p = r["quorum_plan"]
        verdict = ("certified" if p["certified"] else
                   "NOT certified: the budget allows no skip, so wait-all")
        lines.append(f"quorum = 'auto': budget {p['budget']:.6g}, {p['certify']} bound "
                     f"{p['bound']:.6g} with skips {p['skipped']} ({p['allocation']} "
                     f"allocation): {verdict}")
        if p["certified"] and all(k == 1 for k in p["quorum"]):
            lines.append("warning: every quorum is 1: the budget is at or above where the bound "
                         "saturates, so it certifies nothing useful; try a smaller epsilon")
    return "\n".join(lines)


def _convert(args: argparse.Namespace) -> int:
    from neurosim.data.network import from_sklearn, load_network, make_network, save_network

    src, out = Path(args.model), Path(args.out)
    if out.suffix.lower() not in (".npz", ".onnx"):
        raise InputError(str(out), None, "the output must end in .npz or .onnx")
    if not src.is_file():
        raise InputError(str(src), None, "model file not found")
    lo, hi, notes = args.input_low, args.input_high, []
    if src.suffix.lower() == ".onnx":
        from neurosim.data.onnx_io import read_onnx

        net, notes = read_onnx(src, lo, hi)
    elif src.suffix.lower() == ".npz":
        net = load_network(src)
        if lo is not None or hi is not None:
            net = make_network(net.weights, net.biases, net.activations,
                               net.input_low if lo is None else lo,
                               net.input_high if hi is None else hi, source=str(src))
    else:
        import joblib

        try:
            model = joblib.load(src)
        except Exception:  # whatever unpickling a foreign file raises
            raise InputError(str(src), None, "not a joblib file (convert reads a scikit-learn "
                             "MLP saved with joblib.dump, an .onnx or an .npz)") from None
        if not hasattr(model, "coefs_"):
            raise InputError(str(src), None, f"not a fitted scikit-learn MLP (the file holds "
                             f"a {type(model).__name__})")
        try:
            net = from_sklearn(model, 0.0 if lo is None else lo, 1.0 if hi is None else hi)
        except InputError:
            raise
        except Exception as err:  # said once: from_sklearn's own message
            raise InputError(str(src), None, str(err)) from None
        final = getattr(model, "out_activation_", "identity")
        if final != "identity":  # as a final Softmax/Sigmoid of an ONNX model
            what = "predict_proba" if hasattr(model, "predict_proba") else "predict"
            notes.append(f"dropped the model's final {final}: the network's outputs are the "
                         f"values before it ({what} applies {final} to them)")
    try:
        if out.suffix.lower() == ".onnx":
            from neurosim.data.onnx_io import write_onnx

            write_onnx(net, out, float32=args.float32)
        else:
            save_network(net, out)
    except OSError as err:  # no such folder, a folder in the way, no permission
        raise InputError(str(out), None, f"cannot write it ({err.strerror or err})") from None
    print(f"wrote {out}: sizes {net.sizes}, activations {list(net.activations)}")
    for note in notes:
        print(f"note: {note}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from neurosim.data.scenario import load_scenario
    from neurosim.front.plots import RUN_PLOTS, plot_results, remove_files
    from neurosim.runner import run_trials, show_progress
    from neurosim.setup import prepare

    overrides = {}
    if args.trials is not None:
        overrides["trials"] = args.trials
    if args.seed is not None:
        overrides["seed"] = args.seed
    scn = load_scenario(args.scenario, overrides)
    _note_sweep(scn, "run")
    setup = prepare(scn)
    plan = setup.quorum_plan
    if plan is not None and not plan["certified"]:
        print(f"neurosim: warning: {scn.source}: quorum = \"auto\" cannot be certified within "
              f"epsilon {plan['budget']:.4g} (the fewest skips give a bound of "
              f"{plan['bound']:.4g}): running wait-all, which blocks behind any crash",
              file=sys.stderr)
    out = Path(args.out) if args.out else Path("results") / scn.name
    # A run replaces the folder's previous results: no stale plot beside the new CSV, and
    # after a Ctrl-C before the first trial no older run's rows passed off as this one's.
    remove_files(out, RUN_PLOTS + ("trace_trial0.npz", "trials.csv", "summary.json"))
    try:
        summary = run_trials(setup, args.engine, out, progress=show_progress())
    except KeyboardInterrupt:
        csv_file = out / "trials.csv"
        done = max(0, len(csv_file.read_text().splitlines()) - 1) if csv_file.is_file() else 0
        kept = (f"{done} finished trials kept in {csv_file} and {out / 'summary.json'}"
                if done else "no trial had finished")
        print(f"neurosim: interrupted; {kept}", file=sys.stderr)
        return 130
    files = [out / n for n in ("trials.csv", "summary.json", "trace_trial0.npz")
             if (out / n).is_file()] + plot_results(out)
    if args.json:
        print(strict_json.dumps(summary, indent=2))
    else:
        print(format_summary(summary, out, files))
    if summary["violations"]:
        for line in summary["violation_details"]:
            print(f"neurosim: BOUND VIOLATED: {line}", file=sys.stderr)
        return 1
    return 0


def format_summary(s: dict[str, Any], out: Path, files: list[Path]) -> str:
    def num(v: Any) -> str:
        return "-" if v is None else f"{v:.4g}"

    lines = [
        f"{s['scenario']}: {s['trials']} trials, engine {s['engine']}, seed {s['seed']}, "
        f"{s['elapsed_s']:.2f} s",
        f"  error      max {num(s['max_error'])}  mean {num(s['mean_error'])}",
        f"  bounds     given-set max {num(s['bound_given_set_max'])} (signed "
        f"{num(s['bound_given_set_signed_max'])})  signed {num(s['bound_signed'])}  "
        f"weight-aware {num(s['bound_weight_aware'])}  paper Fep {num(s['bound_paper'])}",
        f"             (worst-case bounds: at most {s['missing_per_layer']} missing and "
        f"{s['corrupted_per_layer']} corrupted signals per receiver, layers 1..L+1"
        + (f"; {s['trials_beyond_counts']} trials had more and were checked against "
           "the bounds for their own counts" if s['trials_beyond_counts'] else "") + ")",
        f"  violations {s['violations']}   blocked trials {s['blocked_trials']}",
        f"  latency    mean {num(s['latency_mean'])}  p50 {num(s['latency_p50'])}  "
        f"p99 {num(s['latency_p99'])}",
        f"  messages   sent {s['messages_sent']}  used {s['messages_used']}  "
        f"wasted {s['messages_wasted']}  lost {s['messages_lost']}"
        f"  in flight {s['messages_in_flight']}",
    ]
    if s.get("quorum"):
        lines.append(f"  quorum     {s['quorum']}")
    if "accuracy" in s:
        lines.append(f"  accuracy   {s['accuracy']:.4f} "
                     f"(fault-free {s['fault_free_accuracy']:.4f})")
    lines += format_applications(s)
    lines.append(f"  results    {out}/ ({', '.join(p.name for p in files)})")
    return "\n".join(lines)


def format_applications(s: dict[str, Any]) -> list[str]:
    """Summary lines for quantized weights, random failures and trained networks."""
    def num(v: Any) -> str:
        return "-" if v is None else f"{v:.4g}"

    lines = []
    if "bits_per_layer" in s:
        line = (f"  bits       {s['bits_per_layer']} per weight layer: memory saved vs float32 "
                f"{100 * s['memory_saved_vs_float32']:.1f}%")
        if "certified_bits_weight_aware" in s:
            line += (f"; fewest bits within epsilon {s['epsilon']:g}: "
                     f"{s['certified_bits_weight_aware']} (weight-aware), "
                     f"{s['certified_bits_paper']} (paper)")
        lines.append(line)
    if "expected_error_bound" in s:
        lines += [
            f"  random     error p50 {num(s['error_p50'])}  p99 {num(s['error_p99'])};  "
            + (f"expected-error bound {num(s['expected_error_bound'])} (paper "
             f"{num(s['expected_error_bound_paper'])}) >= mean error"
             if s["expected_error_bound"] is not None else
             "no expected-error bound (a trial blocked or missed a signal beyond its "
             "failures)"),
            f"             missing per receiver, layers 1..L+1: mean "
            f"{[round(x, 2) for x in s['realised_missing_mean'] or []]}, p99 "
            f"{s['realised_missing_p99']}; worst-case bound at the p99 counts "
            f"{num(s['bound_weight_aware_at_p99_counts'])}"]
    if "tolerated_crashes" in s:
        lines.append(f"  tolerated  {s['tolerated_crashes']} crashes per hidden layer within "
                     f"epsilon (weight-aware bound)")
    if "training_time_s" in s:
        lines.append(f"  training   {s['training_time_s']:.2f} s, {s['training_epochs']} epochs, "
                     f"held-out accuracy {s['training_test_accuracy']:.4f}")
    return lines


def _sweep(args: argparse.Namespace) -> int:
    from neurosim.data.scenario import load_scenario
    from neurosim.sweep import grid, run_sweep

    scn = load_scenario(args.scenario)
    out = Path(args.out) if args.out else Path("results") / scn.name
    total = len(grid(scn))

    def report(row: dict[str, Any]) -> None:
        if args.point_plots:  # the sweep computes; drawing is the front's
            from neurosim.front.plots import plot_results

            plot_results(out / "points" / row["point"])
        if not args.quiet:
            keys = ", ".join(f"{k}={row[k]}" for k in scn.sweep)
            print(f"  {keys}: latency p99 {row['latency_p99']}, max error {row['max_error']}, "
                  f"violations {row['violations']}, blocked {row['blocked_trials']}", flush=True)

    def stale(n: int) -> None:
        print(f"{scn.name}: {n} point(s) in {out / 'sweep.csv'} were run from another version "
              "of the scenario or of its files (or are no longer in the grid): dropped, "
              "and rerun if in the grid", flush=True)

    rows = run_sweep(args.scenario, out, args.engine, args.workers, args.scheduler, report,
                     stale)
    print(f"{scn.name}: ran {len(rows)} of {total} points ({total - len(rows)} already done); "
          f"{out / 'sweep.csv'}; each point in {out / 'points'}/<point>/ (trials.csv, "
          f"summary.json, trace_trial0.npz{' and its plots' if args.point_plots else ''})")
    from neurosim.front.study import plot_sweep

    for p in plot_sweep(out):
        print(f"wrote {p}")
    if any(int(r["violations"] or 0) for r in rows):
        print("neurosim: BOUND VIOLATED in a sweep point: see its summary.json", file=sys.stderr)
        return 1
    return 0


@contextmanager
def _stdout_to_stderr():
    """Send what is written to the process's stdout (file descriptor 1) to stderr: the
    MILP solver (HiGHS, C++) sometimes prints a line of its own there, which would break
    `--json` (stdout is the report only)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no descriptor 1 (an embedding host): nothing to protect
        yield
        return
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _attack(args: argparse.Namespace) -> int:
    from neurosim.attack.run import attack
    from neurosim.data.scenario import load_scenario
    from neurosim.setup import prepare

    scn = load_scenario(args.scenario)
    _note_sweep(scn, "attack")
    if args.time_limit <= 0:
        raise InputError(args.scenario, "--time-limit", "must be positive")
    with _stdout_to_stderr():
        report = attack(prepare(scn), args.time_limit, Path(args.out) if args.out else None,
                        use_milp=not args.no_milp)
    if args.json:
        print(strict_json.dumps(report, indent=2))
    else:
        print(format_attack(report))
    return 0


def format_attack(r: dict[str, Any]) -> str:
    """The attack report as a few readable lines."""
    w = r["witness"]
    lines = [
        f"{r['scenario']}: {r['failure_model']}",
        f"  worst error found  {r['worst_error']:.6g}"
        f"{'  (exact: proven the worst case)' if r['exact'] else ''}",
        f"  bounds             tightest {r['bound_tightest']:.6g}  weight-aware "
        f"{r['bound_weight_aware']:.6g}  paper Fep {r['bound_paper']:.6g}"
        + (f"  MILP{' (enclosure)' if r.get('milp_kind') == 'enclosure' else ''} "
           f"{r['bound_milp']:.6g}" if r.get("bound_milp") is not None else ""),
        "  gap                "
        + (f"{r['gap']:.4g} (tightest bound / worst found)" if r["gap"] is not None
           else "- (no error found)"),
        f"  witness            crashed {w['crashed']}  byzantine {w['byzantine']}  "
        f"lost synapses {len(w['lost_synapses'])}  byzantine synapses "
        f"{len(w['byzantine_synapses'])}  output {w['output']}",
        f"  method             {r['method']}; {r['elapsed_s']:.1f} s",
    ]
    if "replay_scenario" in r:
        lines.append(f"  replay             neurosim run {r['replay_scenario']}")
    lines += [f"  note               {n}" for n in r["notes"]]
    return "\n".join(lines)


def _plot(args: argparse.Namespace) -> int:
    from neurosim.front.plots import plot_results

    out = Path(args.dir)
    try:
        if (out / "sweep.csv").is_file():  # a sweep folder: the sweep and boosting plots
            from neurosim.front.study import plot_sweep
            from neurosim.sweep import read_sweep

            if not read_sweep(out)[1]:
                raise InputError(str(out / "sweep.csv"), None, "no rows: nothing to draw")
            paths = plot_sweep(out)
        elif (out / "summary.json").is_file() and (out / "trials.csv").is_file():
            paths = plot_results(out)
        else:
            raise InputError(str(out), None, "not a results folder (needs trials.csv and "
                             "summary.json, or the sweep.csv of a sweep)")
    except InputError:
        raise
    except (KeyError, ValueError, TypeError, IndexError) as err:
        # A file edited or truncated by hand, or written by something else.
        raise InputError(str(out), None, f"a result file is not as neurosim writes it "
                         f"({type(err).__name__}: {err})") from None
    for p in paths:
        print(f"wrote {p}")
    return 0


def _examples(args: argparse.Namespace) -> int:
    from neurosim.data.bundled import copy_examples

    out = Path(args.dir)
    written = copy_examples(out, force=args.force)
    print(f"copied {len(written)} example files to {out}/ (scenarios, nets/); try: "
          f"neurosim run {out / 'crash-vs-bound.toml'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from neurosim import __version__

    p = argparse.ArgumentParser(prog="neurosim", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("bound", help="every bound (docs/bounds.md), without simulating")
    b.add_argument("target", help="a scenario .toml, a network .npz or an ONNX model")
    b.add_argument("--json", action="store_true",
                   help="print JSON instead of a table (stdout is then JSON only)")
    b.add_argument("--epsilon", type=float, help="tolerated error epsilon - epsilon'")
    b.add_argument("--crash", type=int, default=1,
                   help="crashed neurons per hidden layer, for a network target (default 1)")
    b.set_defaults(func=_bound)

    r = sub.add_parser("run", help="simulate a scenario; write trials.csv, summary.json, plots")
    r.add_argument("scenario")
    r.add_argument("--out", help="results folder (default results/<scenario name>)")
    r.add_argument("--trials", type=int, help="override the scenario's trials")
    r.add_argument("--seed", type=int, help="override the scenario's seed")
    r.add_argument("--engine", choices=["des", "fast"], default="des",
                   help="des: SimPy processes (default); fast: vectorised, a block of trials at "
                   "once, the same trials.csv")
    r.add_argument("--json", action="store_true",
                   help="print the summary as JSON instead of the table (stdout is then JSON "
                        "only; messages go to stderr)")
    r.set_defaults(func=_run)

    sw = sub.add_parser("sweep", help="run the [sweep] grid, resumable; DIR/sweep.csv")
    sw.add_argument("scenario")
    sw.add_argument("--out", help="results folder (default results/<scenario name>)")
    sw.add_argument("--engine", choices=["des", "fast"], default="des")
    sw.add_argument("--workers", type=int, default=1, help="dask workers on this machine")
    sw.add_argument("--scheduler", help="address of a running dask scheduler")
    sw.add_argument("--quiet", action="store_true", help="no line per finished point")
    sw.add_argument("--point-plots", action="store_true",
                    help="also draw each point's plots in DIR/points/<id>/ (off by default: "
                    "`neurosim plot DIR/points/<id>` draws one later)")
    sw.set_defaults(func=_sweep)

    pl = sub.add_parser("plot", help="redraw the plots of a results folder")
    pl.add_argument("dir")
    pl.set_defaults(func=_plot)

    a = sub.add_parser("attack", help="search (and where possible prove) the worst failure "
                       "and input; --out writes a witness scenario that run replays")
    a.add_argument("scenario")
    a.add_argument("--json", action="store_true",
                   help="print JSON instead of a summary (stdout is then JSON only)")
    a.add_argument("--out", help="folder for the witness scenario (scenario.toml and its files)")
    a.add_argument("--time-limit", type=float, default=60.0,
                   help="seconds for the search and the MILP together (default 60)")
    a.add_argument("--no-milp", action="store_true",
                   help="search only, no MILP (the MILP is exact for relu, identity and "
                   "hard_sigmoid; for sigmoid and tanh it encloses phi between lines and "
                   "gives only an upper bound)")
    a.set_defaults(func=_attack)

    c = sub.add_parser("convert", help="a scikit-learn MLP (joblib) or an ONNX model to a "
                       "network .npz, or a network .npz to ONNX")
    c.add_argument("model", help="MODEL.joblib, MODEL.onnx or NET.npz")
    c.add_argument("out", help="NET.npz or MODEL.onnx")
    c.add_argument("--input-low", type=float,
                   help="input box low end (default: the model's own, else 0)")
    c.add_argument("--input-high", type=float,
                   help="input box high end (default: the model's own, else 1)")
    c.add_argument("--float32", action="store_true",
                   help="write ONNX in float32 (default float64, which reads back exactly)")
    c.set_defaults(func=_convert)

    ex = sub.add_parser("examples", help="copy the bundled scenarios and networks into DIR")
    ex.add_argument("dir", help="a new or empty folder")
    ex.add_argument("--force", action="store_true",
                    help="copy into a non-empty DIR, overwriting example files of the same names")
    ex.set_defaults(func=_examples)

    return p


# The most local dask worker processes `sweep --workers` starts: beyond a few per core
# they only compete for it, and a typo (--workers 100000) would start that many processes.
MAX_WORKERS = 4 * (os.cpu_count() or 1)


def check_flags(args: argparse.Namespace) -> None:
    """Refuse out-of-range numeric flags (InputError naming the flag), before any work.

    argparse checks only the type: --crash -1 or --epsilon nan would otherwise be
    read as something else (0 crashes, an epsilon that tolerates nothing).
    """
    source = next((str(getattr(args, k)) for k in ("target", "scenario", "model", "dir")
                   if getattr(args, k, None) is not None), "neurosim")
    checks = {"crash": ("--crash", lambda v: v >= 0, "must be >= 0"),
              "epsilon": ("--epsilon", lambda v: math.isfinite(v) and v > 0,
                          "must be a finite number > 0"),
              "trials": ("--trials", lambda v: v > 0, "must be > 0"),
              "seed": ("--seed", lambda v: v >= 0, "must be >= 0"),
              "workers": ("--workers", lambda v: 1 <= v <= MAX_WORKERS,
                          f"must be from 1 to {MAX_WORKERS} (4 processes per core of this "
                          "machine; a cluster takes --scheduler)"),
              "time_limit": ("--time-limit", lambda v: math.isfinite(v) and v > 0,
                             "must be a finite number of seconds > 0"),
              "input_low": ("--input-low", math.isfinite, "must be a finite number"),
              "input_high": ("--input-high", math.isfinite, "must be a finite number")}
    for name, (flag, ok, what) in checks.items():
        value = getattr(args, name, None)
        if value is not None and not ok(value):
            raise InputError(source, flag, f"{what}, got {value}")
    out = getattr(args, "out", None)
    if out is not None and args.command in ("run", "sweep", "attack"):
        check_out_folder(source, Path(out))
    low, high = getattr(args, "input_low", None), getattr(args, "input_high", None)
    if low is not None and high is not None and low > high:
        raise InputError(source, "--input-low", f"{low} exceeds --input-high {high}")


def check_out_folder(source: str, out: Path) -> None:
    """Refuse an --out folder that cannot be written (a file, a path under a file or a
    read-only place) before any work: try to create it, then remove what was created."""
    if out.exists() and not out.is_dir():
        raise InputError(source, "--out", f"{out} is a file, not a folder")
    created = []
    folder = out
    while not folder.exists() and folder != folder.parent:
        created.append(folder)
        folder = folder.parent
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(source, "--out", f"cannot create the folder {out} "
                         f"({err.strerror or err})") from None
    writable = os.access(out, os.W_OK | os.X_OK)
    for folder in created:  # deepest first: each is empty
        folder.rmdir()
    if not writable:
        raise InputError(source, "--out", f"cannot write in the folder {out}")


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM (`kill`, a job scheduler's or a container's stop) as a Ctrl-C: the run
    keeps its finished trials and writes their summary.json, a sweep its finished
    points; by default SIGTERM ended the process at once, and summary.json was never
    written. Only the main thread can set a handler: elsewhere nothing changes."""
    try:
        previous = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_flags(args)
        with _terminate_as_interrupt():
            return args.func(args)
    except InputError as err:
        print(f"neurosim: error: {err}", file=sys.stderr)
        return 2
    except BoundViolation as err:
        print(f"neurosim: BOUND VIOLATED: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into e.g. `head`: not an error
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("neurosim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
