"""``rights works`` and ``rights licenses``: what a creator does over HTTP, for whoever runs the registry.

The operator of a data directory holds every key, so these commands act as an admin would: list and show
works, withdraw one, save its receipt, grant and list licences. Output is the HTTP API's JSON, one object
per line. Each command needs an existing registry: a typo in ``--data`` must not create an empty one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from rights.accounts import require_account
from rights.cli import EXIT_OK, emit_json, existing_registry, positive_int, settings_from_args, text_argument
from rights.output_files import written

if TYPE_CHECKING:  # the registry loads FAISS and OpenCV: only when a command runs (fast --help)
    from rights.registry import Registry


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``works ...`` and ``licenses ...`` to the top-level commands ``sub``."""
    works = sub.add_parser("works", help="registered works: list, show, withdraw, receipt", parents=[common])
    actions = works.add_subparsers(dest="works_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="one JSON line per work, oldest first", parents=[common])
    listing.add_argument("--creator", type=text_argument, help="only this creator's works")
    listing.add_argument("--limit", type=positive_int, help="at most this many works")
    listing.set_defaults(handler=cmd_works_list)
    on_one = partial(_on_one_work, actions, common)
    on_one("show", "one work (as GET /v1/works/{id})", cmd_works_show)
    on_one(
        "withdraw",
        "stop a work matching; the withdrawal is logged (as DELETE /v1/works/{id})",
        cmd_works_withdraw,
    )
    receipt = on_one(
        "receipt",
        "a fresh receipt (entry, signed checkpoint, inclusion proof) for 'rights log verify-receipt'",
        cmd_works_receipt,
    )
    receipt.add_argument("--out", type=Path, metavar="FILE", help="write it here instead of stdout")

    licenses = sub.add_parser("licenses", help="licences of a work: grant, list", parents=[common])
    actions = licenses.add_subparsers(dest="licenses_command", required=True, metavar="ACTION")
    on_one = partial(_on_one_work, actions, common)
    grant = on_one(
        "grant",
        "let a seller or platform use a work: its listings match as licensed and open no case",
        cmd_licenses_grant,
    )
    grant.add_argument(
        "--licensee", type=text_argument, required=True, help="seller or platform account name"
    )
    grant.add_argument("--platform", type=text_argument, help="only listings on this platform")
    grant.add_argument("--expires-at", metavar="TIME", help="ISO 8601 time; none: no end")
    on_one("list", "one JSON line per licence of a work", cmd_licenses_list)


def _on_one_work(
    actions: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    name: str,
    help_text: str,
    handler: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """An action on one work, named by its id."""
    parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text, parents=[common])
    parser.add_argument("work_id", help="a work id, e.g. w_12")
    parser.set_defaults(handler=handler)
    return parser


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[Registry]:
    """The registry of ``--data``, which must exist."""
    from rights.registry import Registry

    existing_registry(args)
    with Registry.open(settings_from_args(args)) as registry:
        yield registry


def cmd_works_list(args: argparse.Namespace) -> int:
    with opened(args) as registry:
        if args.creator is not None:
            require_account(registry.db, args.creator)
        cursor, shown = None, 0
        while args.limit is None or shown < args.limit:
            page = registry.list_works(creator=args.creator, limit=100, cursor=cursor)
            for work in page["works"][: None if args.limit is None else args.limit - shown]:
                emit_json(work)
                shown += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
    return EXIT_OK


def cmd_works_show(args: argparse.Namespace) -> int:
    with opened(args) as registry:
        emit_json(registry.get_work(args.work_id))
    return EXIT_OK


def cmd_works_withdraw(args: argparse.Namespace) -> int:
    with opened(args) as registry:
        emit_json(registry.withdraw(args.work_id))
    return EXIT_OK


def cmd_works_receipt(args: argparse.Namespace) -> int:
    with opened(args) as registry:
        receipt = registry.receipt(args.work_id)
    if args.out is None:
        emit_json(receipt)
    else:
        with written(args.out, "the receipt") as fh:
            emit_json(receipt, fh)
    return EXIT_OK


def cmd_licenses_grant(args: argparse.Namespace) -> int:
    with opened(args) as registry:
        emit_json(registry.add_license(args.work_id, args.licensee, args.platform, args.expires_at))
    return EXIT_OK


def cmd_licenses_list(args: argparse.Namespace) -> int:
    with opened(args) as registry:
        for licence in registry.list_licenses(args.work_id):
            emit_json(licence)
    return EXIT_OK
