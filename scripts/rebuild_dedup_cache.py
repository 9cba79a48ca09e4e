#!/usr/bin/env python3
"""Rebuild the dedup cache index from an assets folder.

    python scripts/rebuild_dedup_cache.py --assets DIR [--index PATH] [--max-entries N]
                                          [--max-bytes N] [--no-preserve-pins]

Hashes every file under DIR (skipping hidden files and folders, *.asset.json sidecars and
thumbnail folders), stores each distinct content once, and rewrites the index to list exactly
those files. Pins of files still present are kept unless --no-preserve-pins is given. Shows
progress on stderr and prints a JSON summary on stdout.

Exit codes: 0 done, 1 the cache is locked by another process or a file system error, 2 bad input
(for example a missing --assets folder). See docs/cache.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filelock import Timeout  # noqa: E402

from comfyvn.cache.cache_manager import INDEX_NAME, CacheManager, default_root  # noqa: E402
from comfyvn.core.errors import ComfyVNError  # noqa: E402

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    lines = __doc__.splitlines()
    parser = argparse.ArgumentParser(prog="rebuild_dedup_cache.py", description="\n".join(lines[4:]).strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=Path, required=True, metavar="DIR",
                        help="the folder whose files the cache should hold")
    parser.add_argument("--index", type=Path, default=None, metavar="PATH",
                        help=f"the index file; blobs are kept in blobs/ beside it "
                             f"(default: <runtime cache dir>/dedup/{INDEX_NAME})")
    parser.add_argument("--max-entries", type=_count, default=None, metavar="N",
                        help="keep at most N entries, evicting unpinned ones least recently used first")
    parser.add_argument("--max-bytes", type=_count, default=None, metavar="N",
                        help="keep at most N bytes of blobs on disk (same eviction order)")
    parser.add_argument("--no-preserve-pins", dest="preserve_pins", action="store_false",
                        help="clear every pin (by default pins of files still present are kept)")
    return parser


@contextmanager
def _progress() -> Iterator[Callable[[int, int, Path], None]]:
    """A rich progress bar when stderr is a terminal and rich is installed, else a line on stderr
    per tenth of the files (easier to read in logs)."""
    rich = None
    if sys.stderr.isatty():
        try:
            from rich import console, progress as rich
        except ImportError:
            rich = None
    if rich is None:
        shown = -1

        def plain(done: int, total: int, path: Path) -> None:
            nonlocal shown
            if done * 10 // total != shown:
                shown = done * 10 // total
                print(f"hashed {done}/{total} files", file=sys.stderr, flush=True)

        yield plain
        return
    with rich.Progress(console=console.Console(stderr=True), transient=True) as bar:
        task = bar.add_task("hashing files", total=None)

        def fancy(done: int, total: int, path: Path) -> None:
            bar.update(task, completed=done, total=total, description=f"hashing {path.name[:40]}")

        yield fancy


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    index = args.index.expanduser().resolve() if args.index is not None else default_root() / INDEX_NAME
    try:
        cache = CacheManager(index.parent, index=index, max_entries=args.max_entries, max_bytes=args.max_bytes)
        with _progress() as progress:
            summary = cache.rebuild(args.assets, preserve_pins=args.preserve_pins, progress=progress)
    except ComfyVNError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Timeout:
        print(f"error: another process holds the cache lock beside {index}; wait for it to finish and retry",
              file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
