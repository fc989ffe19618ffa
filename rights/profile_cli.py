"""``rights profile``: an account's rights-holder profile, the legal name and contact details that its
takedown notices print (as ``GET``/``PUT /v1/profile``, with an admin's reach: any account by name).
"""

from __future__ import annotations

import argparse

from rights.cli import EXIT_OK, UsageError, emit_json, existing_registry, text_argument


def add_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``profile show|set`` to the top-level commands ``sub``."""
    group = sub.add_parser(
        "profile", help="the legal name and contact details takedown notices print", parents=[common]
    )
    actions = group.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="an account's profile as one JSON object", parents=[common])
    show.add_argument("--account", required=True, type=text_argument, help="the account's name")
    show.set_defaults(handler=cmd_profile_show)
    change = actions.add_parser(
        "set", help="change the fields given ('' clears one); prints the profile", parents=[common]
    )
    change.add_argument("--account", required=True, type=text_argument, help="the account's name")
    change.add_argument(
        "--legal-name",
        type=text_argument,
        metavar="TEXT",
        help="the person's or company's legal name, printed and signed with",
    )
    change.add_argument(
        "--contact", type=text_argument, metavar="TEXT", help="e-mail, phone and postal address to print"
    )
    change.set_defaults(handler=cmd_profile_set)


def cmd_profile_show(args: argparse.Namespace) -> int:
    from rights import db, profiles

    conn = db.connect(existing_registry(args))
    try:
        profile = profiles.get_profile(conn, args.account)
    finally:
        conn.close()
    emit_json(profile.to_dict())
    return EXIT_OK


def cmd_profile_set(args: argparse.Namespace) -> int:
    from rights import db, profiles

    if args.legal_name is None and args.contact is None:
        raise UsageError("give --legal-name, --contact or both ('' clears one)")
    conn = db.connect(existing_registry(args))
    try:
        with db.transaction(conn):
            profile = profiles.set_profile(
                conn,
                args.account,
                legal_name=profiles.KEEP if args.legal_name is None else args.legal_name,
                contact=profiles.KEEP if args.contact is None else args.contact,
            )
    finally:
        conn.close()
    emit_json(profile.to_dict())
    return EXIT_OK
