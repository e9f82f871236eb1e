"""The tables `lingshu eval` prints after its results table, each only when its option is used: the clean
subsets (`--exclude`), the judge's open / closed / overall scores (a judge), and the scores beside a model's
published ones (`--compare-to`)."""

from __future__ import annotations


def clean_table(title: str, results: list[dict]):
    """Each benchmark's full score beside its clean subset's (the items an audit did not find in training) and
    clean − full with its paired CI; benchmarks the audit did not cover say so."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("benchmark", "n", "score %", "excluded", "clean n", "clean % (95% CI)", "clean − full (95% CI)"):
        table.add_column(column, justify="left" if column == "benchmark" else "right", no_wrap=column == "benchmark")
    for r in results:
        clean = r.get("clean", {})
        if not clean.get("audited"):
            table.add_row(r["benchmark"], str(r["n"]), f"{r['score']:.1f}", "not audited", "", "", "")
            continue
        gap = clean.get("clean_minus_full")
        table.add_row(r["benchmark"], str(r["n"]), f"{r['score']:.1f}", str(clean["excluded"]), str(clean["n"]),
                      f"{clean['score']:.1f} ({clean['ci_low']:.1f}-{clean['ci_high']:.1f})",
                      f"{gap['delta']:+.1f} ({gap['ci_low']:+.1f}, {gap['ci_high']:+.1f})" if gap else "no clean item")
    return table


def judge_table(title: str, results: list[dict]):
    """Per judged benchmark: open, closed and overall scores with their question counts (judged ones in brackets)."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("benchmark", "open % (n, judged)", "closed % (n, judged)", "overall % (n, judged)", "judge errors"):
        table.add_column(column, justify="left" if column == "benchmark" else "right", no_wrap=column == "benchmark")
    for r in results:
        if "judge" not in r:
            continue
        kinds = r["judge"]["by_kind"]
        table.add_row(r["benchmark"], *(f"{kinds[k]['score']:.1f} ({kinds[k]['n']}, {kinds[k]['judged']})"
                                        if kinds[k]["n"] else "-" for k in ("open", "closed", "overall")),
                      str(r["judge"]["judge_errors"]))
    return table


def print_comparison(reference, results: list[dict], protocol: str) -> None:
    """This run's score and 95% CI beside each published one, `*` where the interval does not cover it; then the
    published columns this run has no twin for, and this run's benchmarks the reference has no score for."""
    from rich.console import Console
    from rich.table import Table

    from lingshu.eval.published import compare

    rows, unmatched, unpublished = compare(results, reference)
    table = Table(title=f"beside {reference.model} as published ({reference.cite()}; {reference.protocol}); "
                        f"this run: {protocol} protocol")
    for column in ("benchmark", "n", "this run % [95% CI]", "published %", "table, column", "difference", "outside CI"):
        table.add_column(column, justify="left" if column in ("benchmark", "table, column") else "right",
                         no_wrap=column == "benchmark")
    for row in rows:
        table.add_row(row.benchmark, str(row.n), f"{row.score:.1f} [{row.ci_low:.1f}, {row.ci_high:.1f}]",
                      f"{row.published.score:.1f}", f"Table {row.published.table}, {row.published.column}",
                      f"{row.difference:+.1f}", "" if row.covered else "*")
    console = Console()
    console.print(table)
    print("* the published score lies outside this run's 95% interval: question sampling alone does not explain "
          "the difference")
    for row in rows:
        if row.published.note:
            print(f"  {row.benchmark}: {row.published.note}")
    for entry in unmatched:
        why = (f"the average of {', '.join(entry.average_of)}" if entry.average_of else
               "not evaluated in this run" if entry.benchmark else "no lingshu benchmark is this test")
        print(f"published only: Table {entry.table}, {entry.column} {entry.score:.1f} ({why}"
              f"{'; ' + entry.note if entry.note else ''})")
    if unpublished:
        print(f"no published score for: {', '.join(unpublished)}")
