"""The ``rights`` command line: keys, register, refingerprint, match, serve, log verification, backup;
``works``, ``licenses``, ``cases``, ``profile`` and ``scans`` come from their own modules.

``workers.cli`` is the installed console script; it takes :func:`build_parser`, adds its own commands
(``scan``, ``demo``) with :func:`add_command`, and dispatches with :func:`run`. Every command is a function
``handler(args) -> int`` set with ``set_defaults(handler=...)``.

Exit codes: 0 success, 2 bad usage or input, 1 anything else. Errors are one line on stderr.

Commands import the registry (and with it FAISS and OpenCV) only when they run, so ``rights --help`` and
argument errors answer instantly.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any, NoReturn, TextIO

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from rights import json_input
from rights.accounts import ROLES
from rights.config import Settings, SettingsError, load_settings, resolve_data_dir
from rights.errors import RightsError
from rights.image_files import read_capped, read_each
from rights.limits import MAX_COUNT, MAX_MATCH_LIMIT, MAX_TITLE_LENGTH, MAX_WORKERS
from rights.log import VerificationError, load_public_key, log_size, verify_log, verify_receipt
from rights.log.signing import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE
from rights.text import has_lone_surrogates, readable, title_from_file_name

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# Domain errors that mean "your input is wrong" (exit 2) rather than "something failed" (exit 1).
# The CLI has no caller to authorise, so a 403 means a named account cannot do that (a platform
# named as --creator).
_INPUT_STATUSES = frozenset({400, 403, 404, 409, 413, 415, 422})
# indexes.decode.FORMATS, as file names show them (this module must not import the engine); a folder's
# other files are skipped.
IMAGE_SUFFIXES = frozenset(
    {".png", ".apng", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".avif"}
)

Handler = Callable[[argparse.Namespace], int]


class UsageError(Exception):
    """Bad input found by the CLI itself (a missing file, an empty folder): exit 2."""


class OneLineErrors(argparse.ArgumentParser):
    """Argument errors as one stderr line (the contract), not argparse's usage block. Subcommand
    parsers inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ------------------------------------------------------------------------------------------------ parser


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser: argparse.ArgumentParser = OneLineErrors(
        prog="rights",
        description="Creator-rights registry and piracy detector.",
        parents=[_common_options(top_level=True)],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    keys = sub.add_parser("keys", help="API keys", parents=[common])
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys_sub.add_parser(
        "create", help="create the account if new and print a new API key", parents=[common]
    )
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "--name", required=True, type=text_argument, help="account name (a creator's name, a platform's name)"
    )
    create.set_defaults(handler=cmd_keys_create)
    revoke = keys_sub.add_parser(
        "revoke", help="revoke every API key of an account (a leaked key), at once", parents=[common]
    )
    revoke.add_argument("--name", required=True, type=text_argument, help="the account whose keys go")
    revoke.set_defaults(handler=cmd_keys_revoke)

    register = sub.add_parser(
        "register", help="register image files, or every image under folders", parents=[common]
    )
    register.add_argument("paths", nargs="+", metavar="PATH", type=Path)
    register.add_argument(
        "--creator", required=True, type=text_argument, help="the creator the works belong to"
    )
    register.add_argument(
        "--title", type=text_argument, help="title for every work (default: the file name without suffix)"
    )
    register.set_defaults(handler=cmd_register)

    redo = sub.add_parser(
        "refingerprint",
        help="fingerprint registered works again from their stored originals (after an upgrade)",
        parents=[common],
    )
    redo.add_argument(
        "--all",
        dest="everything",
        action="store_true",
        help="every live work, not only those whose fingerprint an older release made",
    )
    redo.set_defaults(handler=cmd_refingerprint)

    match = sub.add_parser("match", help="find registered works in images", parents=[common])
    match.add_argument("images", nargs="+", metavar="IMAGE", type=Path)
    match.add_argument(
        "--limit",
        type=match_limit,
        default=10,
        help=f"matches per image (default 10, at most {MAX_MATCH_LIMIT})",
    )
    match.add_argument("--platform", type=text_argument, help="platform of the listing (for licence checks)")
    match.add_argument("--seller", type=text_argument, help="seller of the listing (for licence checks)")
    match.set_defaults(handler=cmd_match)

    serve = sub.add_parser("serve", help="run the HTTP API", parents=[common])
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=port_number, default=8000, help="port to listen on; 0 picks a free one (default: 8000)"
    )
    serve.set_defaults(handler=cmd_serve)

    log = sub.add_parser("log", help="the transparency log", parents=[common])
    log_sub = log.add_subparsers(dest="log_command", required=True, metavar="ACTION")
    verify = log_sub.add_parser("verify", help="check the whole log offline", parents=[common])
    verify.add_argument(
        "--public-key",
        metavar="KEY",
        help="public key to trust, as for verify-receipt (default: the data dir's)",
    )
    verify.set_defaults(handler=cmd_log_verify)
    receipt = log_sub.add_parser(
        "verify-receipt", help="check registration receipts offline", parents=[common]
    )
    receipt.add_argument(
        "file", metavar="FILE", help="receipt JSON, registration JSON or JSON Lines; - for stdin"
    )
    receipt.add_argument(
        "--public-key",
        metavar="KEY",
        required=True,
        help="the log's public key: a PEM file, PEM text, or the raw key as 64 hex or 44 base64 characters",
    )
    receipt.set_defaults(handler=cmd_log_verify_receipt)

    copy = sub.add_parser(
        "backup",
        help="a consistent copy of the data directory, taken while servers and scans keep running",
        parents=[common],
    )
    copy.add_argument("dest", metavar="DEST", type=Path, help="a new folder for the copy (must not exist)")
    copy.set_defaults(handler=cmd_backup)

    # After this module is loaded: they import from here.
    from rights import cases_cli, hashes_cli, profile_cli, scans_cli, works_cli

    works_cli.add_commands(sub, common)
    cases_cli.add_commands(sub, common)
    profile_cli.add_commands(sub, common)
    hashes_cli.add_commands(sub, common)
    scans_cli.add_commands(sub, common)
    return parser


def add_command(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """Add a top-level command to a parser from :func:`build_parser` (used by ``workers.cli``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            kwargs.setdefault("parents", [_common_options()])
            sub: argparse.ArgumentParser = action.add_parser(name, **kwargs)
            return sub
    raise ValueError("this parser has no commands")


def _common_options(*, top_level: bool = False) -> argparse.ArgumentParser:
    # On subcommands the default is SUPPRESS, so `rights --data X register ...` is not reset by the subparser.
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--data",
        metavar="DIR",
        default=None if top_level else argparse.SUPPRESS,
        help="data directory (default: $RIGHTS_DATA, else ./rights-data)",
    )
    return options


def positive_int(text: str) -> int:
    """An argparse type: a whole number ≥ 1, with a message that says so."""
    return int_argument(text, 1, MAX_COUNT, f"a whole number from 1 to {MAX_COUNT:,}")


def worker_count(text: str) -> int:
    """An argparse type: how many worker processes to start."""
    return int_argument(text, 1, MAX_WORKERS, f"a whole number from 1 to {MAX_WORKERS}")


def match_limit(text: str) -> int:
    return int_argument(text, 1, MAX_MATCH_LIMIT, f"a whole number from 1 to {MAX_MATCH_LIMIT}")


def text_argument(text: str) -> str:
    """Text that the registry keeps (names, titles): argv bytes that are not UTF-8 reach Python as
    lone surrogates, which could be neither stored nor printed."""
    if has_lone_surrogates(text):
        raise argparse.ArgumentTypeError(f"expected UTF-8 text, not {text!r}")
    return text


def port_number(text: str) -> int:
    return int_argument(text, 0, 65535, "a port number, 0-65535")


def int_argument(text: str, low: int, high: int | None, wanted: str) -> int:
    """An argparse type helper: a whole number in [low, high], else an error naming ``wanted``."""
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {wanted}, not {text!r}")
    return value


# ------------------------------------------------------------------------------------------------ dispatch


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the environment, with the data directory resolved as the contract says."""
    try:
        return load_settings(data=resolve_data_dir(getattr(args, "data", None)))
    except SettingsError as exc:
        raise UsageError(str(exc)) from None


def existing_registry(args: argparse.Namespace) -> Path:
    """The data directory, which must already hold a registry (commands that only read one)."""
    data_dir = settings_from_args(args).data
    if not (data_dir / "rights.sqlite3").exists():
        raise UsageError(f"no registry in {data_dir} (use --data DIR or $RIGHTS_DATA)")
    return data_dir


def run(args: argparse.Namespace) -> int:
    """Run the chosen command; every expected failure becomes one stderr line and an exit code."""
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        return _fail("no command given; see 'rights --help'", EXIT_USAGE)
    try:
        return handler(args)
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except RightsError as exc:
        return _fail(exc.message, EXIT_USAGE if exc.status in _INPUT_STATUSES else EXIT_FAILURE)
    except FileNotFoundError as exc:
        return _fail(f"{exc.filename or exc}: no such file", EXIT_USAGE)
    except sqlite3.DatabaseError as exc:
        if type(exc) is sqlite3.DatabaseError:  # "malformed", "not a database": the file itself
            return _fail(f"the registry database cannot be read ({exc}); restore a backup", EXIT_FAILURE)
        return _fail(f"database error: {exc}", EXIT_FAILURE)  # locked, a constraint: not corruption
    except BrokenPipeError:
        # The reader left (``| head``): nothing to tell it. Python would complain again when it
        # flushes stdout at exit, so stdout now goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except OSError as exc:
        return _fail(f"{exc.filename or ''} {exc.strerror or exc}".strip(), EXIT_FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_FAILURE)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args)


def _fail(message: str, code: int) -> int:
    print(f"rights: error: {readable(message)}", file=sys.stderr)  # a file name may not be UTF-8
    return code


def emit_json(obj: Any, out: TextIO | None = None) -> None:
    """One JSON line on stdout (or ``out``), flushed."""
    out = out or sys.stdout
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")
    out.flush()  # one complete line per result, even if we are killed right after


# ------------------------------------------------------------------------------------------------ commands


def cmd_keys_create(args: argparse.Namespace) -> int:
    from rights.registry import Registry

    with Registry.open(settings_from_args(args)) as registry:
        print(registry.create_key(args.role, args.name))
    return EXIT_OK


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from rights.registry import Registry

    existing_registry(args)  # a mistyped --data must not make a registry just to find no account
    with Registry.open(settings_from_args(args)) as registry:
        emit_json({"account": args.name, "revoked": registry.revoke_keys(args.name)})
    return EXIT_OK


def cmd_register(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from indexes.decode import MAX_FILE_BYTES
    from rights.accounts import check_name
    from rights.prefetch import Prefetcher
    from rights.registry import Registry, check_title

    # Wrong for every file alike: said once, before any file is read (was once per file).
    check_name(args.creator)
    check_title(args.title)
    files = list(_image_files(args.paths))
    failures = 0
    for odd in [p for p in files if not p.is_file()]:
        files.remove(odd)
        failures += 1
        why = "a link to nothing" if odd.is_symlink() and not odd.exists() else "not a regular file"
        print(f"rights: error: {readable(str(odd))}: {why}", file=sys.stderr)
    settings = settings_from_args(args)
    processes = settings.fingerprint_workers()
    with ExitStack() as stack:
        registry = stack.enter_context(Registry.open(settings))
        registry.check_owner(args.creator)
        if processes > 0:
            prefetch = stack.enter_context(Prefetcher(processes))
            registry.fingerprinter = prefetch
            items = prefetch.read_ahead(files)
        else:
            items = read_each(files, MAX_FILE_BYTES)
        bar = tqdm(
            items,
            total=len(files),
            unit="image",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
            desc="registering",
        )
        for path, data in bar:
            if isinstance(data, OSError):  # unreadable or too large: the other files still register
                failures += 1
                bar.write(f"rights: error: {readable(str(path))}: {data.strerror or data}", file=sys.stderr)
                continue
            try:
                body = registry.register(
                    args.creator,
                    data,
                    title=_given(args.title) or title_from_file_name(path.stem, MAX_TITLE_LENGTH),
                    metadata={"filename": readable(path.name)},
                )
            except RightsError as exc:
                if exc.status not in _INPUT_STATUSES or exc.status == 403:
                    raise  # 403: the --creator, not this file, is wrong; it would fail every file
                failures += 1
                bar.write(f"rights: error: {readable(str(path))}: {exc.message}", file=sys.stderr)
                continue
            emit_json(body)
    return EXIT_USAGE if failures else EXIT_OK


def _given(title: str | None) -> str | None:
    """A title that says something: blank or only spaces counts as none (the file name stands in)."""
    return title if title and title.strip() else None


def cmd_refingerprint(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rights.refingerprint import refingerprint
    from rights.registry import Registry

    existing_registry(args)
    settings = settings_from_args(args)
    with Registry.open(settings) as registry:
        bar = tqdm(unit="work", file=sys.stderr, disable=not sys.stderr.isatty(), desc="refingerprinting")
        with bar:
            summary = refingerprint(
                registry,
                everything=args.everything,
                processes=settings.fingerprint_workers(),
                on_start=bar.reset,
                on_work=bar.update,
            )
    for failure in summary.failed:
        print(f"rights: error: {failure['work_id']}: {failure['error']}", file=sys.stderr)
    emit_json(summary.to_json())
    return EXIT_FAILURE if summary.failed else EXIT_OK


def cmd_match(args: argparse.Namespace) -> int:
    from indexes.decode import MAX_FILE_BYTES
    from rights.registry import Registry

    existing_registry(args)  # an empty one made by a mistyped --data would call every copy clear
    failures = 0
    with Registry.open(settings_from_args(args)) as registry:
        for path in args.images:
            try:
                # A local file, as `register` reads one (a work registered from it must be matchable);
                # RIGHTS_MAX_UPLOAD_BYTES caps what strangers send over HTTP.
                data = read_capped(path, MAX_FILE_BYTES)
                result = registry.match_image(data, args.limit, platform=args.platform, seller=args.seller)
            except (RightsError, OSError) as exc:
                if isinstance(exc, RightsError) and exc.status not in _INPUT_STATUSES:
                    raise
                failures += 1
                message = exc.message if isinstance(exc, RightsError) else (exc.strerror or str(exc))
                print(f"rights: error: {readable(str(path))}: {message}", file=sys.stderr)
                continue
            emit_json({"image": readable(str(path)), **result})
    return EXIT_USAGE if failures else EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    serve(settings_from_args(args), args.host, args.port)
    return EXIT_OK


def serve(settings: Settings, host: str, port: int, *, scan_service: object | None = None) -> None:
    """Serve until stopped (Ctrl-C or SIGTERM: the app's lifespan then closes ``scan_service``)."""
    from rights.api.app import create_app
    from rights.api.http_protocol import AnnouncingServer, server_config
    from rights.registry import Registry

    Registry.preflight(settings)  # a refused data directory is one line, not uvicorn's traceback and exit 3
    sock = _listening_socket(host, port)  # bound here, so a taken port is one line, not uvicorn's exit 3
    config = server_config(create_app(settings, scan_service=scan_service), host=host, port=port)
    # Uvicorn names no address for sockets it is handed; with --port 0 this is the only way to learn it.
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if sock.family == socket.AF_INET6 else bound[0]
    ready = f"rights: listening on http://{shown}:{bound[1]} (data: {settings.data})"
    with sock:
        AnnouncingServer(config, ready).run(sockets=[sock])


def _listening_socket(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def cmd_log_verify(args: argparse.Namespace) -> int:
    data_dir = existing_registry(args)
    key: Ed25519PublicKey | None = None
    if args.public_key:
        key = _key_argument(args.public_key)
    elif (published := data_dir / PUBLIC_KEY_FILE).exists() or log_size(data_dir) > 0:
        try:
            key = load_public_key(published)
        except (OSError, ValueError, UnsupportedAlgorithm) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return _fail(
                f"the published key {published} is unreadable ({detail}); "
                "pass a copy held elsewhere with --public-key",
                EXIT_FAILURE,
            )
    from tqdm import tqdm

    quiet = not sys.stderr.isatty()
    stored = log_size(data_dir)
    bar = tqdm(total=stored, unit="entry", desc="verifying", file=sys.stderr, disable=quiet)
    with bar:
        report = verify_log(data_dir, key, progress=lambda done: bar.update(done - bar.n))
    if report.ok:
        # The log is intact: now the works table that matching and cases read must agree with it.
        from rights import db
        from rights.log.works_check import first_disagreement

        with closing(db.connect_read_only(data_dir / db.DB_FILENAME)) as conn:
            conn.row_factory = sqlite3.Row
            disagreement = first_disagreement(conn)
        if disagreement is not None:
            report.ok, (report.first_bad_index, report.problem) = False, disagreement
            emit_json(report.to_json())
            return _fail(f"{report.problem} (log entry {report.first_bad_index})", EXIT_FAILURE)
    emit_json(report.to_json())
    if not report.ok:
        # Past the last stored entry (entries removed from the end, a stray node) no entry is bad.
        where = (
            f"log entry {report.first_bad_index} is bad"
            if report.first_bad_index is not None and report.first_bad_index < stored
            else f"the log is bad after its {stored} stored entries"
        )
        return _fail(f"{where}: {report.problem}", EXIT_FAILURE)
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from rights.backup import backup

    data_dir = existing_registry(args)
    with tqdm(unit="original", desc="backing up", file=sys.stderr, disable=not sys.stderr.isatty()) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = backup(data_dir, args.dest, progress=progress)
    emit_json(report.to_json())
    problems = []
    if report.missing_originals:
        problems.append(
            f"{len(report.missing_originals)} originals named by the database are missing from {data_dir} "
            f"(first: {report.missing_originals[0]})"
        )
    if report.damaged_originals:
        problems.append(
            f"{len(report.damaged_originals)} originals in {data_dir} no longer match their SHA-256 "
            f"(first: {report.damaged_originals[0]}; copied as they are)"
        )
    if report.missing_signing_key:
        problems.append(
            f"{data_dir} has no {PRIVATE_KEY_FILE} although its log is signed, so neither it nor the "
            "backup can record anything new"
        )
    if problems:
        return _fail("; ".join(problems) + "; the backup holds everything else", EXIT_FAILURE)
    return EXIT_OK


def cmd_log_verify_receipt(args: argparse.Namespace) -> int:
    key = _key_argument(args.public_key)
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{args.file} is not UTF-8 text, so not a receipt") from None
    except OSError as exc:  # missing, a folder, unreadable: the argument is wrong
        raise UsageError(f"{args.file}: {exc.strerror or exc}") from None
    receipts = list(_receipts_in(text))
    if not receipts:
        raise UsageError(f"{args.file} holds no receipt")
    bad = 0
    for n, receipt in enumerate(receipts, 1):
        try:
            entry = verify_receipt(receipt, key)
        except VerificationError as exc:
            bad += 1
            print(f"rights: error: receipt {n} is invalid: {exc}", file=sys.stderr)
            continue
        emit_json({"valid": True, "log_index": receipt.get("log_index"), "entry": entry})
    return EXIT_FAILURE if bad else EXIT_OK


# ------------------------------------------------------------------------------------------------ helpers


def _image_files(paths: list[Path]) -> Iterator[Path]:
    """Every file named, and every image under folders named, in a stable order."""
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise UsageError(f"{missing[0]}: no such file or folder")
    found = 0
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                # Hidden files and folders under it are not the user's pictures: thumbnail caches
                # (.thumbnails/), macOS's "._name.png" resource forks. Named outright, one is read.
                if any(part.startswith(".") for part in child.relative_to(path).parts):
                    continue
                # Not only regular files: a dangling link or a FIFO named like an image is reported by
                # the caller, never skipped in silence (nor read: a FIFO would never end).
                if child.suffix.lower() in IMAGE_SUFFIXES and not child.is_dir():
                    found += 1
                    yield child
        elif path.is_file():
            found += 1
            yield path
        else:  # /dev/zero or a FIFO would be read forever
            raise UsageError(f"{path}: not a regular file or folder")
    if not found:
        raise UsageError(
            f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {', '.join(map(str, paths))}"
        )


def _receipts_in(text: str) -> Iterator[dict[str, Any]]:
    """A receipt, a registration body holding one, or JSON Lines of either."""
    try:
        docs = [json_input.loads(text, unique_keys=True)]
    except json_input.DuplicateKey as exc:
        raise UsageError(f"not a receipt: {exc}") from None
    except ValueError:
        docs = []
        # Only "\n" ends a line: splitlines() would also split a title at U+2028 or U+0085.
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                docs.append(json_input.loads(line, unique_keys=True))
            except ValueError as exc:  # its own "line 1" means the line's: say which line it is
                raise UsageError(f"not JSON or JSON Lines: line {number}: {exc}") from exc
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("receipt"), dict):
            yield doc["receipt"]
        elif isinstance(doc, dict):
            yield doc
        else:
            raise UsageError("a receipt must be a JSON object")


def _key_argument(value: str) -> Ed25519PublicKey:
    """The key in a file, or given inline (PEM, 64 hex or 44 base64 characters), checked now so that
    a wrong file is one line of error rather than a traceback from deep in the verification."""
    path = Path(value)
    if path.is_file():
        data: str | bytes = path.read_bytes()
    elif "BEGIN PUBLIC KEY" in value or len(value.strip()) in (44, 64):
        data = value
    else:
        raise UsageError(f"public key {value!r} is neither a readable file nor a key")
    try:
        return load_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise UsageError(f"public key {value!r} is not an Ed25519 public key ({exc})") from None
