"""The tightness study: `neurosim attack` on every case (*.toml) of this folder.

    python studies/tightness/run.py [--time-limit 300] [--out results/tightness-study]

Writes OUT/tightness.csv (one row per case), OUT/<case>/ (each witness scenario,
replayable with `neurosim run`), plots/tightness.png, and prints the table as markdown.
"""

import argparse
import csv
from pathlib import Path

from neurosim.attack.run import attack, sound_bounds
from neurosim.data.scenario import load_scenario
from neurosim.front.tightness import plot_tightness, study_row, write_rows
from neurosim.setup import prepare

HERE = Path(__file__).parent

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--time-limit", type=float, default=300.0, help="seconds per case")
    p.add_argument("--out", default="results/tightness-study")
    p.add_argument("--plot", default=str(HERE.parents[1] / "plots" / "tightness.png"))
    p.add_argument("--cases", default="*", help="rerun only the cases matching this pattern "
                   "(the other rows of tightness.csv are kept)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kept = {}
    if (out / "tightness.csv").is_file():
        with open(out / "tightness.csv", newline="") as f:
            kept = {r["case"]: r for r in csv.DictReader(f)}
    rows = []
    for path in sorted(HERE.glob("*.toml")):
        scn = load_scenario(path)
        if not path.match(args.cases + ".toml") and scn.name in kept:
            row = kept[scn.name]
            if not row.get("bound_signed"):  # a row from before the signed bound: add it
                b = sound_bounds(prepare(scn))
                if "bound_signed" in b:
                    worst = float(row["worst_error"])
                    tightest = min(float(row["bound_tightest"]), b["bound_signed"])
                    row.update(bound_signed=b["bound_signed"], bound_tightest=tightest,
                               gap=tightest / worst if worst > 0 else "")
            rows.append(row)
            continue
        report = attack(prepare(scn), args.time_limit, out / scn.name)
        rows.append(study_row(scn.name, report))
        write_rows(out / "tightness.csv", rows)
        r = rows[-1]
        print(f"{scn.name}: worst {r['worst_error']:.4g}{' (exact)' if r['exact'] else ''}, "
              f"MILP {r['bound_milp'] or '-'}, weight-aware {r['bound_weight_aware']:.4g}, "
              f"paper {r['bound_paper']:.4g}, {r['elapsed_s']:.0f} s", flush=True)
    write_rows(out / "tightness.csv", rows)
    print(f"wrote {plot_tightness(rows, Path(args.plot))}")

    def f(v):
        return "-" if v in ("", None) else f"{float(v):.3g}"

    print("\n| case | worst found | exact | MILP bound | signed | weight-aware | paper Fep | "
          "gap (tightest) | gap (weight-aware) | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        exact = str(r["exact"]) == "True"
        print(f"| {r['case']} | {f(r['worst_error'])} | {'yes' if exact else 'no'} | "
              f"{f(r['bound_milp'])} | {f(r.get('bound_signed'))} | "
              f"{f(r['bound_weight_aware'])} | {f(r['bound_paper'])} | "
              f"{f(r['gap'])} | {f(r['gap_weight_aware'])} | {float(r['elapsed_s']):.0f} |")
