"""Small timing helpers shared by the benchmarks: repeated runs, medians, ratio tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

__all__ = ["Figure", "interleaved", "ops_per_second", "print_table", "ratio", "wall_seconds"]


class Figure:
    """min / median / max of repeated measurements of one thing."""

    def __init__(self, name: str, samples: Sequence[float], unit: str) -> None:
        self.name = name
        self.samples = list(samples)
        self.unit = unit

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def __str__(self) -> str:
        lo, mid, hi = min(self.samples), self.median, max(self.samples)
        return f"{lo:,.1f} / {mid:,.1f} / {hi:,.1f} {self.unit}"


def ops_per_second(
    func: Callable[[], object], *, number: int, repeat: int = 5, name: str = ""
) -> Figure:
    """Call ``func`` ``number`` times per run, ``repeat`` runs; throughput of each run."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            func()
        samples.append(number / (time.perf_counter() - start))
    return Figure(name, samples, "ops/s")


def interleaved(
    funcs: Sequence[Callable[[], object]], *, number: int, repeat: int = 5
) -> list[Figure]:
    """Throughput of several functions measured in alternating rounds (A B A B ...).

    On a shared machine, noise then hits every candidate alike; compare with :func:`ratio`.
    """
    samples: list[list[float]] = [[] for _ in funcs]
    for _ in range(repeat):
        for i, func in enumerate(funcs):
            start = time.perf_counter()
            for _ in range(number):
                func()
            samples[i].append(number / (time.perf_counter() - start))
    return [Figure("", s, "ops/s") for s in samples]


def ratio(candidate: Figure, baseline: Figure) -> float:
    """Median over rounds of candidate/baseline, for figures from :func:`interleaved`."""
    return statistics.median(
        c / b for c, b in zip(candidate.samples, baseline.samples, strict=True)
    )


def wall_seconds(func: Callable[[], object], *, repeat: int = 5, name: str = "") -> Figure:
    """Wall time of ``repeat`` calls of ``func``, in milliseconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000.0)
    return Figure(name, samples, "ms")


def print_table(title: str, rows: Sequence[tuple[str, str, str, str]]) -> None:
    """Rows of (what, figure, ratio, target) as a Markdown table."""
    print(f"\n### {title}\n")
    print("| what | min / median / max | ratio (median) | target |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
