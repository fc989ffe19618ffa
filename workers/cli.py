"""The ``rights`` console script: ``rights.cli`` plus ``scan`` and ``demo``, and scans for ``serve``.

This is the composition root (workers → rights → indexes): ``rights`` cannot import ``workers``, so the
commands that need worker processes are added here, and ``serve`` gets its scan service from here.
Heavy imports (FAISS, OpenCV, Dask) happen inside the handlers, so ``rights --help`` stays instant.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rights import cli as rights_cli
from rights.cli import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    add_command,
    build_parser,
    run,
    settings_from_args,
    worker_count,
)
from rights.output_files import check_output, is_stdout

if TYPE_CHECKING:
    from workers.dask_runner import DaskRunner
    from workers.local_pool import LocalPool
    from workers.task import WorkerContext

__all__ = ["main", "parser"]


def parser() -> argparse.ArgumentParser:
    p = build_parser()
    scan = add_command(
        p,
        "scan",
        help="scan a listing feed (resumable: the same command after a crash skips done listings)",
    )
    scan.add_argument(
        "feed",
        metavar="FEED",
        type=Path,
        help="JSON Lines, or CSV (*.csv, or a first line that is a CSV header)",
    )
    scan.add_argument(
        "--out", required=True, type=Path, metavar="FINDINGS.jsonl", help="findings, feed order"
    )
    scan.add_argument("--report", type=Path, metavar="REPORT.html", help="also write a self-contained report")
    scan.add_argument("--workers", type=worker_count, help="local worker processes (default: CPU count)")
    scan.add_argument(
        "--scheduler", type=scheduler_address, metavar="ADDRESS", help="run on this Dask scheduler instead"
    )
    scan.add_argument(
        "--image-root",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="also read local images under DIR (repeatable; by default only under the feed's folder)",
    )
    scan.set_defaults(handler=cmd_scan)

    demo = add_command(p, "demo", help="register the sample works, scan the sample feed, write a report")
    demo.add_argument(
        "--out", type=Path, default=Path("demo-output"), help="output folder (default ./demo-output)"
    )
    demo.add_argument("--samples", type=Path, help="samples folder (default: the checkout's samples/)")
    demo.add_argument("--workers", type=worker_count, help="local worker processes (default: CPU count)")
    demo.set_defaults(handler=cmd_demo)

    serve = _subcommand(p, "serve")
    serve.add_argument("--workers", type=worker_count, help="scan worker processes (default: CPU count)")
    serve.add_argument(
        "--scheduler",
        type=scheduler_address,
        metavar="ADDRESS",
        help="run submitted scans on this Dask scheduler (--workers is then unused)",
    )
    serve.set_defaults(handler=cmd_serve)
    return p


def scheduler_address(text: str) -> str:
    """A Dask address, checked when given: `serve` connects at its first scan, and a typo made every
    submitted scan fail long after the server had started without a word."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(text)
        if scheme in ("tcp", "tls", "ws", "wss"):
            parse_host_port(location)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Dask scheduler address ({exc})") from None
    return text


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run(args)


def cmd_scan(args: argparse.Namespace) -> int:
    from rights.registry import Registry
    from workers.feeds import refuse_archives
    from workers.scan import make_context, run_scan

    if not args.feed.is_file():
        what = "no such feed file" if not args.feed.exists() else "not a regular file; give a feed file"
        raise UsageError(f"{args.feed}: {what}")
    refuse_archives(args.feed)  # before a scan is recorded, as the other refusals of the feed
    rights_cli.existing_registry(args)  # an empty one made by a mistyped --data would find nothing
    for root in args.image_root:
        if not root.is_dir():
            raise UsageError(f"--image-root {root}: not a folder")
    # The feed's own folder stays allowed: relative paths resolve against it.
    roots = [args.feed.absolute().parent, *args.image_root] if args.image_root else None
    settings = settings_from_args(args)
    _check_outputs(args.feed, args.out, args.report, data=Path(settings.data))
    try:
        with Registry.open(settings) as registry:
            ctx = make_context(registry)
            with _runner(ctx, args.workers, args.scheduler) as runner:  # cancelled on the way out
                outcome = run_scan(
                    args.feed,
                    registry=registry,
                    runner=runner,
                    out=args.out,
                    report=args.report,
                    allowed_roots=roots,
                )
    except KeyboardInterrupt:
        print("rights: error: interrupted; the same command resumes the scan", file=sys.stderr)
        return EXIT_FAILURE
    totals = outcome.summary.totals()
    resumed = f", {outcome.skipped} already done" if outcome.skipped else ""
    print(
        f"scanned {outcome.total} listings in {outcome.seconds:.1f} s{resumed}: "
        + ", ".join(f"{totals[v]} {v}" for v in ("match", "review", "clear", "error"))
        + ("; findings on standard output" if is_stdout(args.out) else f"; findings in {args.out}")
        + (f", report in {args.report}" if args.report else ""),
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from workers.demo import run_demo

    settings = settings_from_args(args)
    run_demo(data=Path(settings.data), out=args.out, samples=args.samples, workers=args.workers)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from workers.service import BackgroundScans

    service = BackgroundScans(workers=args.workers, scheduler=args.scheduler)
    try:
        rights_cli.serve(settings_from_args(args), args.host, args.port, scan_service=service)
    finally:
        service.close()
    return EXIT_OK


def _runner(ctx: WorkerContext, workers: int | None, scheduler: str | None) -> LocalPool | DaskRunner:
    from workers.dask_runner import DaskRunner, IndexTooLargeToSend
    from workers.local_pool import LocalPool

    if not scheduler:
        return LocalPool(ctx, workers)
    # distributed logs a lost scheduler in dozens of lines; the scan says it in one (SchedulerLost).
    # Its configuration sets levels on child loggers ("distributed.client"), so each is quietened.
    for name in [n for n in logging.root.manager.loggerDict if n.split(".")[0] == "distributed"]:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        runner = DaskRunner(ctx, scheduler)
    except ValueError as exc:  # "notaurl": distributed's "missing port number", as a traceback
        raise UsageError(f"--scheduler {scheduler!r} is not a scheduler address ({exc})") from None
    except IndexTooLargeToSend:
        raise
    except OSError as exc:  # a timeout is an OSError too
        raise OSError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    if runner.sends_index:
        print(
            f"rights: the Dask workers cannot read the index at {ctx.index_dir}; "
            "sending them the index and each local image",
            file=sys.stderr,
        )
    return runner


def _check_outputs(feed: Path, out: Path, report: Path | None, *, data: Path) -> None:
    """Refuse outputs that would overwrite the feed, each other or the registry's own files, or
    that are folders, before any work."""
    named = {feed.resolve(): "the feed"}
    registry = data.resolve()
    if report is not None and is_stdout(out) and is_stdout(report):
        raise UsageError("--out - and --report - would both write to standard output; give one a file name")
    for option, path in (("--out", out), ("--report", report)):
        if path is None or is_stdout(path):
            continue
        check_output(path, option)
        if path.resolve().is_relative_to(registry):
            # It could name the database or the signing key: written over, the registry is lost.
            raise UsageError(f"{option} {path} is inside the data directory {data}; write it elsewhere")
        clash = named.get(path.resolve())
        if clash is not None:
            raise UsageError(f"{option} {path} is {clash}; write it to another file")
        named[path.resolve()] = f"the {option} file"


def _subcommand(p: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            sub: argparse.ArgumentParser = action.choices[name]
            return sub
    raise ValueError(f"no {name!r} command")
