"""A progress bar for long benchmark phases, on the process's real stdout (a terminal gets one
updating line, a log gets a line at every quarter), whatever sys.stdout was pointed at."""

import sys
import time
from collections.abc import Iterator, Sequence

WIDTH = 30


def progress_bar[T](items: Sequence[T], label: str) -> Iterator[T]:
    total = max(1, len(items))
    out = sys.__stdout__ or sys.stdout
    interactive = out.isatty()
    start = time.perf_counter()
    reported = -1

    def show(done: int) -> None:
        nonlocal reported
        filled = WIDTH * done // total
        line = f"  {label:<40} [{'#' * filled}{'.' * (WIDTH - filled)}] {done}/{len(items)}"
        line += f" {time.perf_counter() - start:6.1f} s"
        if interactive:
            out.write("\r" + line + ("\n" if done == len(items) else ""))
        elif 4 * done // total > reported or done == len(items):
            reported = 4 * done // total
            out.write(line + "\n")
        out.flush()

    show(0)
    for done, item in enumerate(items, start=1):
        yield item
        show(done)
