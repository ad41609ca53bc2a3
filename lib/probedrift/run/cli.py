"""The ``probedrift`` command line: ``embed``, ``run``, ``book``, ``diff``, ``bench`` and ``budget``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from probedrift.bench import run_bench
from probedrift.core import cache
from probedrift.core.errors import ProbedriftError
from probedrift.inputs import datasets, embed
from probedrift.inputs.models import cheap_dtype_name, spec
from probedrift.report.tables import TIMING_COLUMNS, diff_run_tables
from probedrift.run.book import AUDIENCES, build_book, find_repository, is_repository
from probedrift.run.runner import run_profile
from probedrift.science import user_budget, user_probe
from probedrift.science.budget import AUC_DROP, CURVE_GRID_DEG

# Each subcommand imports what it runs when it runs, so `probedrift embed` answered from the request
# memo starts without loading torch, pandas or the study.


def _cmd_embed(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    request = {
        "model": spec(args.model).identity, "dataset": datasets.dataset_source_identity(args.dataset),
        "text_column": args.text_column, "label_column": args.label_column,
        "n": args.n, "seed": args.seed, "layers": args.layers, "pooling": args.pooling,
        "max_length": args.max_length, "chat_template": args.chat_template,
        "dtype": cheap_dtype_name(args.dtype, args.device),
    }
    found = cache.lookup_request(request)
    if found is not None:
        out, record = found
        keys, hit = record["keys"], True
        n_texts, fingerprint, n_tokens, resumed = record["n_texts"], record["fingerprint"], 0, 0
    else:
        columns = {} if args.dataset in datasets.DATASETS else {"text_column": args.text_column,
                                                                 "label_column": args.label_column}
        ds = (datasets.prepare(args.dataset, args.n, seed=args.seed, **columns) if args.n
              else datasets.load(args.dataset, **columns))
        settings = {layer: embed.ExtractionSettings(args.model, layer, args.pooling, args.max_length,
                                                    args.chat_template, args.dtype) for layer in args.layers}
        info = embed.ExtractionInfo()
        got = embed.get_embeddings(settings.values(), ds.texts, device=args.device, batch_size=args.batch_size,
                                   progress=not args.quiet, info=info)
        out = {layer: got[s] for layer, s in settings.items()}
        keys = {str(layer): info.keys[s.label] for layer, s in settings.items()}
        hit = info.cache_hit
        n_texts, fingerprint, n_tokens, resumed = len(ds), ds.fingerprint, info.n_tokens, info.resumed_chunks
        cache.remember_request(request, keys, {"n_texts": n_texts, "fingerprint": fingerprint})
    seconds = time.perf_counter() - t0
    print(f"model {args.model}  dataset {args.dataset} ({n_texts} texts, fingerprint {fingerprint[:12]})")
    for layer, arr in out.items():
        print(f"  layer {layer:>3}: shape {tuple(arr.shape)} {arr.dtype}  cache entry {keys.get(str(layer), '')[:16]}")
    status = "cache hit" if hit else f"computed ({n_tokens} tokens, resumed chunks: {resumed})"
    print(f"{status} in {seconds:.2f} s")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    # lean: once checked, the run goes on in a process that never imported the study (a smaller footprint)
    return run_profile(args.profile, overrides=args.set, device=args.device, results_root=args.results, lean=True)


def book_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The repository ``probedrift book`` builds (``--repo``, else the checkout containing the working
    directory) and the folder it builds into (``--out``, else that repository)."""

    if args.repo:
        repository = Path(args.repo).resolve()
        if not is_repository(repository):
            raise ProbedriftError(f"--repo {args.repo}: {repository} holds no _config.yml and notebooks/",
                                  "name the root of your clone of the study")
    else:
        repository = find_repository(Path.cwd())
    return repository, Path(args.out).resolve() if args.out else repository


def _cmd_book(args: argparse.Namespace) -> int:
    repository, out = book_paths(args)
    return build_book(args.profile, results_root=args.results, strict=args.strict, out_root=out,
                      repository=repository, audience=args.audience)


def _cmd_diff(args: argparse.Namespace) -> int:
    ignored = () if args.timing else TIMING_COLUMNS
    table = diff_run_tables(args.run_a, args.run_b, rtol=args.rtol, atol=args.atol, ignore_columns=ignored)
    print(table.to_string(index=False))
    return 0 if table.equal.all() else 1


def _cmd_bench(args: argparse.Namespace) -> int:
    return run_bench(quick=args.quick, out_dir=args.out, end_to_end=args.end_to_end, device=args.device)


def _cmd_budget(args: argparse.Namespace) -> int:
    probe = user_probe.as_user_probe(args.probe, l2_normalize=args.l2_normalize)
    if args.write_probe:
        print(f"probe written to {user_probe.save_probe_npz(probe, args.write_probe)}")
        if not args.embeddings:
            return 0
    if not args.embeddings:
        raise ProbedriftError("no held-out embeddings given", "pass --embeddings heldout.npz (arrays X and y)")
    X, y = user_probe.read_embeddings(args.embeddings, labels=args.labels, x_key=args.x_key, y_key=args.y_key)
    X_updated = None
    if args.updated:
        X_updated, _ = user_probe.read_embeddings(args.updated, x_key=args.x_key, need_labels=False)
    report = user_budget.user_budget(probe, X, y, X_updated, angles_deg=args.angles, drop=args.drop,
                                     confidence=args.confidence, bootstrap=args.bootstrap, seed=args.seed)
    print(user_budget.format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"written to {args.json}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``probedrift`` argument parser with its subcommands."""
    p = argparse.ArgumentParser(prog="probedrift", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    e = sub.add_parser("embed", help="extract (or fetch from cache) pooled hidden states of a dataset")
    e.add_argument("--model", default="gemma-3-270m", help="embedded name, hub id or local directory")
    e.add_argument("--dataset", default="comments", help="embedded name, civil_comments, or a CSV/JSONL/parquet path")
    e.add_argument("--text-column", default="text", help="text column of a CSV/JSONL/parquet file")
    e.add_argument("--label-column", default="label", help="label column of a CSV/JSONL/parquet file")
    e.add_argument("--n", type=int, default=0, help="balanced sample of N texts per class (0 = all)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--layers", type=int, nargs="+", default=[-1], help="hidden-state indices, negative allowed")
    e.add_argument("--pooling", default="last_token", help="last_token | mean | mean_skip_first")
    e.add_argument("--max-length", type=int, default=256)
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument("--chat-template", action="store_true", help="wrap each text as a user turn")
    e.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16 | float16")
    e.add_argument("--device", default="auto", help="auto | cpu | cuda")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_embed)

    r = sub.add_parser("run", help="execute the study's notebooks for a profile with papermill")
    r.add_argument("--profile", default="smoke", help="smoke | default | paper, or a path to a YAML profile")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a profile key")
    r.add_argument("--device", default=None, help="auto | cpu | cuda (overrides the profile)")
    r.add_argument("--results", default="results", help="root directory of run outputs")
    r.set_defaults(func=_cmd_run)

    b = sub.add_parser("book", help="build the Jupyter Book of this checkout from results/<profile>/")
    b.add_argument("--profile", default="default")
    b.add_argument("--results", default="results", help="root of the run outputs (relative: to the repository)")
    b.add_argument("--strict", action="store_true", help="turn warnings into errors (-W)")
    b.add_argument("--repo", default=None,
                   help="the checkout whose book to build; default: the one containing the working directory")
    b.add_argument("--out", default=None, help="folder to build into (<out>/_build/html); default: the repository")
    b.add_argument("--audience", default="instructor", choices=AUDIENCES,
                   help="instructor: every page and solution; student: no teaching page, solutions left out")
    b.set_defaults(func=_cmd_book)

    d = sub.add_parser("diff", help="compare the tables of two runs (exit 1 when any differs beyond tolerance)")
    d.add_argument("run_a", help="a run directory, e.g. results/smoke")
    d.add_argument("run_b")
    d.add_argument("--rtol", type=float, default=1e-6)
    d.add_argument("--atol", type=float, default=1e-9)
    d.add_argument("--timing", action="store_true",
                   help=f"compare the timing columns too ({', '.join(TIMING_COLUMNS)}; left out by default)")
    d.set_defaults(func=_cmd_diff)

    m = sub.add_parser("bench", help="performance benchmark; writes results/bench/bench.{json,md}")
    m.add_argument("--quick", action="store_true", help="tiny sizes, to check the code still runs")
    m.add_argument("--out", default=os.path.join("results", "bench"))
    m.add_argument("--device", default="cpu", help="cpu | cuda | auto: where the extraction is measured")
    m.add_argument("--end-to-end", action="store_true",
                   help="also time `probedrift run --profile default` cold and warm (about 30 minutes)")
    m.set_defaults(func=_cmd_bench)

    g = sub.add_parser("budget", help="drift budget of your own linear probe, and what an update does to it",
                       description="The closed-form drift budget (isotropic drift of angle θ) of a linear probe "
                       "StandardScaler → LogisticRegression on labelled held-out embeddings; with --updated, "
                       "the update's components (a, μ, δ, τ) and its predicted and measured AUC and accuracy. "
                       "Files are read with allow_pickle=False: .npz or .npy only.")
    g.add_argument("--probe", required=True, help="probe .npz (mean, scale, weights, intercept[, l2_normalize]) "
                   "or a directory written by LinearProbe.save")
    g.add_argument("--embeddings", help="held-out .npz with X (n, d) and y (n,), 1 = positive; or a .npy of X")
    g.add_argument("--labels", help="labels .npy (or .npz with y) when the embeddings file holds none")
    g.add_argument("--updated", help="the same texts, same order, embedded by the updated model (.npy or .npz X)")
    g.add_argument("--x-key", default="X", help="array name of the embeddings in a .npz (default X)")
    g.add_argument("--y-key", default="y", help="array name of the labels in a .npz (default y)")
    norm = g.add_mutually_exclusive_group()
    norm.add_argument("--l2-normalize", dest="l2_normalize", action="store_true", default=None,
                      help="the probe divides each embedding by its norm before the scaler (the paper's probe)")
    norm.add_argument("--no-l2-normalize", dest="l2_normalize", action="store_false",
                      help="the scaler sees raw embeddings; drift is taken to keep each embedding's norm")
    g.add_argument("--angles", type=float, nargs="+", default=list(CURVE_GRID_DEG),
                   help="angles (degrees) at which to print the predicted AUC")
    g.add_argument("--drop", type=float, default=AUC_DROP,
                   help="the budget angle is where the AUC has fallen by this much (default 0.05)")
    g.add_argument("--confidence", type=float, default=user_budget.SILENT_CONFIDENCE,
                   help="a wrong decision at confidence ≥ this is a silent failure (default 0.8)")
    g.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="95%% intervals over held-out texts from B stratified bootstrap resamples (default 0: none)")
    g.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples")
    g.add_argument("--json", help="also write the whole report to this JSON file (NaN as null)")
    g.add_argument("--write-probe", metavar="OUT.npz",
                   help="write the probe read from --probe as a probe .npz (with its l2_normalize flag)")
    g.set_defaults(func=_cmd_budget)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a :class:`ProbedriftError` becomes one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ProbedriftError as exc:
        print(f"probedrift: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
