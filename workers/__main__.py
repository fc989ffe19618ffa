"""``python -m workers`` is the ``rights`` command (handy where the console script is not on PATH)."""

from workers.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
