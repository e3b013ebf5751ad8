"""Full-width punctuation benchmark: how long turning a user's ASCII , : ; ( ) into Chinese
punctuation takes on the longest text a report may hold, written to be the worst case (a run
of marks that converts only through its neighbours), against a single ``str.translate`` of
the same text in the same run. It runs inside the write that makes a notice, so it must stay
a few times a linear pass however the text is typed.

Run from the repository root with the project's virtual environment::

    .venv/bin/python bench/punctuation_bench.py

Each figure is the median of 5 timings.
"""

from __future__ import annotations

import statistics
import time

from duban.notifiers.context import FULL_WIDTH, full_width_punctuation

RUNS = 5
LENGTH = 10_000  # the longest report (engine/fields.py)
TEXTS = {
    "marks before Chinese": "," * (LENGTH - 1) + "中",
    "marks after Chinese": "中" + "," * (LENGTH - 1),
    "spaces between": "中" + " " * (LENGTH - 2) + ",",
    "nested brackets": "(" * (LENGTH // 2 - 1) + "中" + ")" * (LENGTH // 2),
    "ordinary text": ("现将有关情况报告如下: 一是(已完成)排查, 二是整改; 共计1,000处, 09:30前完成! "
                      * (LENGTH // 50))[:LENGTH],
}
TABLE = str.maketrans(FULL_WIDTH)


def median(run) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    print(f"{'text':<22}{'convert':>11}{'translate':>12}{'ratio':>9}")
    worst = 0.0
    for name, text in TEXTS.items():
        converted = median(lambda text=text: full_width_punctuation(text))
        floor = median(lambda text=text: text.translate(TABLE))
        worst = max(worst, converted)
        print(f"{name:<22}{converted * 1000:>9.1f}ms{floor * 1000:>10.2f}ms"
              f"{converted / floor:>8.0f}×")
    print(f"slowest: {worst * 1000:.1f} ms for {LENGTH:,} characters "
          f"({'within' if worst < 0.5 else 'OVER'} the 500 ms a notice may take)")


if __name__ == "__main__":
    main()
