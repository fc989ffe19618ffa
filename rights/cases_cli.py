"""``rights cases``: infringement cases and their takedown notices, for whoever runs the registry.

The same cases as ``GET /v1/cases``, seen as an admin would (the operator holds every key): list them,
show one with its history, move it along its life cycle, and write its notice. A notice is refused, as
over HTTP, when the work was withdrawn or the use is licensed or dismissed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rights import cases
from rights.accounts import require_account
from rights.cli import (
    EXIT_OK,
    UsageError,
    emit_json,
    existing_registry,
    int_argument,
    positive_int,
    text_argument,
)
from rights.limits import MAX_COUNT
from rights.output_files import written
from rights.works_cli import opened

# A case's history says who moved it; over HTTP that is the caller's account.
CLI_ACTOR = "cli"


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``cases list|show|set|notice`` to the top-level commands ``sub``."""
    group = sub.add_parser(
        "cases", help="infringement cases: list, show, set status, notice", parents=[common]
    )
    actions = group.add_subparsers(dest="cases_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="one JSON line per case, oldest first", parents=[common])
    listing.add_argument("--status", choices=cases.STATUSES, help="only cases in this state")
    listing.add_argument("--creator", type=text_argument, help="only cases of this creator's works")
    listing.add_argument("--limit", type=positive_int, help="at most this many cases")
    listing.set_defaults(handler=cmd_cases_list)
    show = actions.add_parser("show", help="one case with its evidence and history", parents=[common])
    show.add_argument("case_id", type=_case_id)
    show.add_argument("--images", action="store_true", help="include the evidence thumbnails (base64 JPEG)")
    show.set_defaults(handler=cmd_cases_show)
    move = actions.add_parser(
        "set",
        help="change a case's status (open → notified → taken_down; → dismissed or licensed; back to open)",
        parents=[common],
    )
    move.add_argument("case_id", type=_case_id)
    move.add_argument("status", choices=cases.STATUSES)
    move.add_argument("--note", type=text_argument, help="why, kept in the case's history")
    move.set_defaults(handler=cmd_cases_set)
    notice = actions.add_parser(
        "notice", help="the case's takedown notice (a draft to check)", parents=[common]
    )
    notice.add_argument("case_id", type=_case_id)
    # Checked by rights.notices when the command runs: importing it here would slow every --help.
    notice.add_argument("--format", default="md", help="md (default), html or json")
    notice.add_argument("--lang", default="en", help="en (default) or zh")
    notice.add_argument(
        "--contact",
        type=text_argument,
        help="the rights holder's contact details to print (default: the creator's stored profile)",
    )
    notice.add_argument(
        "--holder-name",
        type=text_argument,
        metavar="NAME",
        help=(
            "the rights holder's legal name, printed and signed with (default: the creator's stored"
            " profile, 'rights profile set'; without either, left to fill in)"
        ),
    )
    notice.add_argument("--out", type=Path, metavar="FILE", help="write it here instead of stdout")
    notice.set_defaults(handler=cmd_cases_notice)


def cmd_cases_list(args: argparse.Namespace) -> int:
    from rights import db

    conn = db.connect(existing_registry(args))
    try:
        if args.creator is not None:
            require_account(conn, args.creator)
        after, shown = 0, 0
        while args.limit is None or shown < args.limit:
            page = cases.list_cases(conn, creator=args.creator, status=args.status, after_id=after, limit=500)
            for case in page[: None if args.limit is None else args.limit - shown]:
                emit_json(case.to_dict())
                shown += 1
            if len(page) < 500:
                break
            after = page[-1].id
    finally:
        conn.close()
    return EXIT_OK


def cmd_cases_show(args: argparse.Namespace) -> int:
    from rights import db

    conn = db.connect(existing_registry(args))
    try:
        body = cases.get_case(conn, args.case_id).to_dict(with_images=args.images)
        body["history"] = cases.case_events(conn, args.case_id)
    finally:
        conn.close()
    emit_json(body)
    return EXIT_OK


def cmd_cases_set(args: argparse.Namespace) -> int:
    with opened(args) as registry, registry.transaction() as conn:
        case = cases.change_status(conn, args.case_id, args.status, actor=CLI_ACTOR, note=args.note)
    emit_json(case.to_dict())
    return EXIT_OK


def cmd_cases_notice(args: argparse.Namespace) -> int:
    from rights.case_notice import notice_for
    from rights.notices import FORMATS, LANGUAGES, render_notice

    if args.format not in FORMATS or args.lang not in LANGUAGES:
        raise UsageError(
            f"--format is one of {', '.join(FORMATS)} and --lang one of {', '.join(LANGUAGES)}, "
            f"not {args.format!r} and {args.lang!r}"
        )
    with opened(args) as registry:
        case = cases.get_case(registry.db, args.case_id)
        notice = notice_for(
            registry, case, lang=args.lang, contact=args.contact, holder_name=args.holder_name
        )
        text = render_notice(notice, args.format)
    if not text.endswith("\n"):
        text += "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        with written(args.out, "the notice") as fh:
            fh.write(text)
    return EXIT_OK


def _case_id(text: str) -> int:
    return int_argument(text, 1, MAX_COUNT, "a case id (a whole number)")
