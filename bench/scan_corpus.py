"""Labelled corpus for the secret scanners, and their precision and recall on it.

Run: ``python -m bench.scan_corpus`` (``--quick`` for a small corpus, ``--keep DIR`` to keep
the tree). The corpus is generated in this run (nothing secret-looking is committed): Python
standard-library source and generated config/docs as filler, true secrets of every kind the
project claims planted in many file types and contexts, and labelled look-alikes that are not
secrets (UUIDs, digests, lock-file integrity hashes, base64 images, certificates, documentation
examples, templated ARNs, ...). Three scanners run on the same tree: ``erp-secrets scan``,
detect-secrets with the project's configuration (the pre-commit hook), and plain
detect-secrets (its defaults). Targets: recall 1.0 per kind, precision >= 0.95.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import sysconfig
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.scan_templates import FORMATS, NEGATIVES, POSITIVE, POSITIVES, SPECIAL_FILES, values
from erp.scan import scan_files
from erp.scan.detectors import DETECTORS, by_name
from erp.scan.ds_config import PLUGIN_FILE, settings

__all__ = [
    "Corpus",
    "Label",
    "Score",
    "generate",
    "main",
    "project_config",
    "run_detect_secrets",
    "run_erp",
    "score_any_type",
    "score_by_kind",
]

KINDS = [d.slug for d in DETECTORS]

# --- filler --------------------------------------------------------------------------------


def _stdlib_lines() -> list[list[str]]:
    """Source lines of the standard library (no tests, no site-packages), one list per file."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"site-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo", "ensurepip"}
    out = []
    for path in sorted(root.rglob("*.py")):
        if skip & set(path.relative_to(root).parts):
            continue
        with contextlib.suppress(OSError, UnicodeDecodeError):
            out.append(path.read_text(encoding="utf-8").splitlines())
    return [lines for lines in out if len(lines) > 20]


_WORDS = [
    "rotation", "key", "vault", "secret", "ledger", "invoice", "customer", "order", "region",
    "bucket", "queue", "topic", "service", "deploy", "cluster", "replica", "timeout", "retry",
    "backoff", "token", "session", "policy", "role", "stage", "primary", "standby", "audit",
    "report", "metric", "alarm", "schedule", "window", "batch", "worker", "checkpoint",
]  # fmt: skip


def _word(rng: random.Random) -> str:
    return rng.choice(_WORDS)


def _filler(kind: str, rng: random.Random, stdlib: list[list[str]], size: int) -> list[str]:
    """About ``size`` bytes of ordinary content for a file of ``kind``."""
    lines: list[str] = []
    total = 0
    while total < size:
        if kind == "py":
            source = rng.choice(stdlib)
            start = rng.randrange(0, max(1, len(source) - 40))
            chunk = source[start : start + rng.randint(20, 120)]
        elif kind == "json":
            chunk = [f'  "{_word(rng)}_{i}": {json.dumps(rng.choice([_word(rng), i, True]))},'
                     for i in range(rng.randint(5, 30))]  # fmt: skip
        elif kind == "yaml":
            chunk = [f"{_word(rng)}:"] + [
                f"  {_word(rng)}_{i}: {rng.choice([_word(rng), str(i), 'true'])}"
                for i in range(rng.randint(3, 15))
            ]
        elif kind == "env":
            count = rng.randint(3, 15)
            chunk = [f"{_word(rng).upper()}_{i}={_word(rng)}-{i}" for i in range(count)]
        elif kind == "md":
            chunk = [f"## {_word(rng).title()} {_word(rng)}", ""] + [
                " ".join(_word(rng) for _ in range(rng.randint(8, 16))) + "."
                for _ in range(rng.randint(2, 8))
            ]
        elif kind == "csv":
            chunk = [",".join([_word(rng), str(rng.randint(1, 10**6)), _word(rng)])
                     for _ in range(rng.randint(5, 30))]  # fmt: skip
        elif kind == "xml":
            chunk = [f"  <{_word(rng)}_{i}>{_word(rng)}</{_word(rng)}_{i}>"
                     for i in range(rng.randint(5, 20))]  # fmt: skip
        elif kind == "sql":
            chunk = [f"INSERT INTO {_word(rng)} VALUES ({i}, '{_word(rng)}');"  # noqa: S608
                     for i in range(rng.randint(5, 20))]  # fmt: skip
        elif kind == "log":
            chunk = [f"2026-11-25T12:{i % 60:02d}:00Z INFO {_word(rng)} {_word(rng)} ok"
                     for i in range(rng.randint(5, 30))]  # fmt: skip
        elif kind == "min":
            chunk = [";".join(f'var {_word(rng)}{i}="{_word(rng)}"' for i in range(40))]
        else:  # code
            chunk = [f'  {_word(rng)}_{i} = "{_word(rng)}";' for i in range(rng.randint(5, 20))]
        lines += chunk
        total += sum(len(line) + 1 for line in chunk)
    return lines


# --- the corpus ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    """A labelled line: a true secret of ``kind`` (a detector slug) or a look-alike."""

    file: str
    line: int
    kind: str
    format: str = ""


@dataclass
class Corpus:
    """A generated tree and its labels."""

    root: Path
    files: list[str] = field(default_factory=list)
    positives: list[Label] = field(default_factory=list)
    negatives: list[Label] = field(default_factory=list)
    bytes: int = 0


def _render(template: list[str], vals: dict[str, str]) -> list[tuple[str, list[str]]]:
    """Template lines as (text, placeholders on it)."""
    out = []
    for line in template:
        names = [n for n in vals if "{" + n + "}" in line]
        out.append((line.format(**vals), names))
    return out


def _special(corpus: Corpus, index: int, rng: random.Random) -> None:
    """One whole file of :data:`SPECIAL_FILES` (Kubernetes, keys, lock files, vault)."""
    fmt, pattern, argument, maker = SPECIAL_FILES[index % len(SPECIAL_FILES)]
    name = pattern.format(i=index)
    lines, labels = maker(values(rng) if argument == "values" else rng)
    for line, kind in labels:
        target = corpus.negatives if kind.startswith("negative:") else corpus.positives
        target.append(Label(name, line, kind, fmt))
    _write(corpus, name, lines)


def generate(
    root: Path,
    *,
    files: int,
    file_bytes: int = 10_000,
    seed: int = 20261125,
    plants_per_file: float = 2.0,
    special_share: float = 0.08,
) -> Corpus:
    """Write ``files`` files under ``root``; about ``file_bytes`` each; labels returned.

    Every format of :data:`FORMATS` (and of the special files) appears once the corpus has
    more files than formats; each file gets about ``plants_per_file`` templates, true secrets
    and look-alikes in turn.
    """
    rng = random.Random(seed)
    stdlib = _stdlib_lines()
    corpus = Corpus(root)
    by_format: dict[str, list[list[str]]] = defaultdict(list)
    for fmt, template in POSITIVES:
        by_format[fmt].append(template)
    negatives_by_format: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for what, fmt, template in NEGATIVES:
        negatives_by_format[fmt].append((what, template))
    formats = sorted(FORMATS)
    cycles: Counter[str] = Counter()
    specials = 0
    for index in range(files):
        if index % max(1, round(1 / special_share)) == 1:
            _special(corpus, specials, rng)
            specials += 1
            continue
        fmt = formats[index % len(formats)]
        pattern, style = FORMATS[fmt]
        folder = f"{rng.choice(['app', 'deploy', 'docs', 'config', 'lib'])}/{index % 97}"
        name = f"{folder}/{pattern.format(i=index)}"
        lines = _filler(style, rng, stdlib, int(rng.uniform(0.5, 1.5) * file_bytes))
        count = int(plants_per_file) + (rng.random() < plants_per_file % 1)
        labels: list[tuple[int, str]] = []  # (line, kind) in this file
        for _ in range(count):
            vals = values(rng)
            positives, negatives = by_format.get(fmt, []), negatives_by_format.get(fmt, [])
            if positives and (cycles[fmt] % 2 == 0 or not negatives):
                template = positives[(cycles[fmt] // 2) % len(positives)]
                what = ""
            elif negatives:
                what, template = negatives[(cycles[fmt] // 2) % len(negatives)]
            else:
                continue
            cycles[fmt] += 1
            # Templates go between filler chunks, never inside a multi-line construct.
            at = rng.randrange(0, len(lines) + 1)
            rendered = _render(template, vals)
            lines[at:at] = [text for text, _ in rendered]
            labels = [(n + len(rendered) if n > at else n, k) for n, k in labels]
            for offset, (_, names) in enumerate(rendered):
                if what:
                    labels.append((at + offset + 1, f"negative:{what}"))
                else:
                    labels += [(at + offset + 1, POSITIVE[p]) for p in names if p in POSITIVE]
        for line_number, label_kind in dict.fromkeys(labels):  # one label per line and kind
            target = corpus.negatives if label_kind.startswith("negative:") else corpus.positives
            target.append(Label(name, line_number, label_kind, fmt))
        _write(corpus, name, lines)
    return corpus


def _write(corpus: Corpus, name: str, lines: list[str]) -> None:
    path = corpus.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.write_bytes(data)
    corpus.files.append(name)
    corpus.bytes += len(data)


# --- running the scanners ------------------------------------------------------------------

Found = list[tuple[str, int, str]]
"""(file, line, detector name or detect-secrets type)"""


def run_erp(corpus: Corpus, jobs: int = 0) -> Found:
    """erp-secrets scan over the corpus (no baseline)."""
    with contextlib.chdir(corpus.root):
        report = scan_files(corpus.files, jobs=jobs)
    return [(f.path, f.line, f.detector) for f in report.findings]


def project_config(builtins: bool = True) -> dict[str, Any]:
    """The hook's detect-secrets configuration (plugins by absolute path)."""
    config = settings("file://" + str(PLUGIN_FILE))
    if not builtins:
        config["plugins_used"] = [p for p in config["plugins_used"] if "path" in p]
    return config


def run_detect_secrets(corpus: Corpus, config: dict[str, Any] | None, cores: int = 2) -> Found:
    """detect-secrets over the corpus: ``config`` as a baseline's settings, None = defaults."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings, transient_settings

    # detect-secrets caches the plugin classes it has seen, custom ones included: forget them
    # so that "plain" means its own plugins only.
    get_mapping_from_secret_type_to_class.cache_clear()
    configured = default_settings() if config is None else transient_settings(config)
    with contextlib.chdir(corpus.root), configured:
        collection = SecretsCollection(root=".")
        collection.scan_files(*corpus.files, num_processors=cores)
    get_mapping_from_secret_type_to_class.cache_clear()
    return [(os.path.normpath(s.filename), s.line_number, s.type) for _, s in collection]


# --- scoring -------------------------------------------------------------------------------


@dataclass
class Score:
    """Counts for one detector (or detect-secrets type) on one corpus."""

    labels: int = 0
    found_labels: int = 0
    true_findings: int = 0
    false_findings: int = 0
    false_on: Counter[str] = field(default_factory=Counter)

    @property
    def recall(self) -> float:
        return self.found_labels / self.labels if self.labels else float("nan")

    @property
    def precision(self) -> float:
        total = self.true_findings + self.false_findings
        return self.true_findings / total if total else float("nan")


def score_by_kind(corpus: Corpus, found: Found) -> dict[str, Score]:
    """Per detector slug; a finding counts only if its detector is the label's kind."""
    positives = {(p.file, p.line, p.kind) for p in corpus.positives}
    negatives = {(n.file, n.line): n.kind for n in corpus.negatives}
    scores: dict[str, Score] = {kind: Score() for kind in KINDS}
    for label in corpus.positives:
        scores[label.kind].labels += 1
    seen: set[tuple[str, int, str]] = set()
    for file, line, detector in found:
        try:
            kind = by_name(detector).slug
        except KeyError:
            kind = f"other: {detector}"
            scores.setdefault(kind, Score())
        if (file, line, kind) in positives:
            scores[kind].true_findings += 1
            seen.add((file, line, kind))
        else:
            scores[kind].false_findings += 1
            scores[kind].false_on[negatives.get((file, line), "filler")] += 1
    for kind in KINDS:
        scores[kind].found_labels = sum(1 for s in seen if s[2] == kind)
    return scores


def score_by_format(corpus: Corpus, found: Found) -> dict[str, Score]:
    """Per file format: recall over its true secrets, precision over findings in its files."""
    formats = {label.file: label.format for label in corpus.positives + corpus.negatives}
    positives = {(p.file, p.line, p.kind) for p in corpus.positives}
    scores: dict[str, Score] = defaultdict(Score)
    for label in corpus.positives:
        scores[label.format].labels += 1
    seen: set[tuple[str, int, str]] = set()
    negatives = {(n.file, n.line): n.kind for n in corpus.negatives}
    for file, line, detector in found:
        fmt = formats.get(file, "filler")
        try:
            kind = by_name(detector).slug
        except KeyError:
            continue  # detect-secrets' own plugins: not scored per format
        if (file, line, kind) in positives:
            scores[fmt].true_findings += 1
            seen.add((file, line, kind))
        else:
            scores[fmt].false_findings += 1
            scores[fmt].false_on[negatives.get((file, line), "filler")] += 1
    for file, _, _kind in seen:
        scores[formats[file]].found_labels += 1
    return dict(scores)


def score_any_type(corpus: Corpus, found: Found) -> tuple[dict[str, Score], dict[str, Score]]:
    """Plain detect-secrets: recall per kind = any finding on the labelled line; precision per
    detect-secrets type = findings on a labelled secret's line."""
    on_line = {(f, n) for f, n, _ in found}
    recall: dict[str, Score] = {kind: Score() for kind in KINDS}
    for label in corpus.positives:
        recall[label.kind].labels += 1
        recall[label.kind].found_labels += (label.file, label.line) in on_line
    secret_lines = {(p.file, p.line) for p in corpus.positives}
    negatives = {(n.file, n.line): n.kind for n in corpus.negatives}
    by_type: dict[str, Score] = defaultdict(Score)
    for file, line, secret_type in found:
        if (file, line) in secret_lines:
            by_type[secret_type].true_findings += 1
        else:
            by_type[secret_type].false_findings += 1
            by_type[secret_type].false_on[negatives.get((file, line), "filler")] += 1
    return recall, dict(by_type)


def _fmt(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"


def _worst(score: Score) -> str:
    return ", ".join(f"{what} ({n})" for what, n in score.false_on.most_common(3))


PRECISION_TARGET = 0.98


def _total(scores: dict[str, Score]) -> Score:
    total = Score()
    for score in scores.values():
        total.labels += score.labels
        total.found_labels += score.found_labels
        total.true_findings += score.true_findings
        total.false_findings += score.false_findings
        total.false_on.update(score.false_on)
    return total


def report(corpus: Corpus, cores: int = 2) -> bool:
    """Print the accuracy tables; True if every target is met."""
    erp_found = run_erp(corpus)
    hook_found = run_detect_secrets(corpus, project_config(), cores)
    ours = score_by_kind(corpus, erp_found)
    hook = score_by_kind(corpus, hook_found)
    plain_recall, plain_types = score_any_type(corpus, run_detect_secrets(corpus, None, cores))
    formats = sorted({label.format for label in corpus.positives + corpus.negatives})
    print(f"\n### Accuracy on a generated corpus: {len(corpus.files)} files in {len(formats)} "
          f"formats, {corpus.bytes / 1e6:.1f} MB, {len(corpus.positives)} true secrets, "
          f"{len(corpus.negatives)} look-alikes\n")  # fmt: skip
    print(
        "| kind | secrets | erp-secrets scan P / R | detect-secrets + project plugins P / R "
        "| plain detect-secrets R (any type on the line) | target |"
    )
    print("|---|---|---|---|---|---|")
    ok = True
    for kind in KINDS:
        o, h, p = ours[kind], hook[kind], plain_recall[kind]
        ok &= o.recall == 1.0
        print(
            f"| {kind} | {o.labels} | {_fmt(o.precision)} / {_fmt(o.recall)} | "
            f"{_fmt(h.precision)} / {_fmt(h.recall)} | {_fmt(p.recall)} | R = 1 |"
        )
    total, hook_total = _total(ours), _total({k: v for k, v in hook.items() if k in KINDS})
    ok &= total.precision >= PRECISION_TARGET
    print(
        f"| **all** | {total.labels} | {_fmt(total.precision)} / {_fmt(total.recall)} | "
        f"{_fmt(hook_total.precision)} / {_fmt(hook_total.recall)} | | "
        f"P >= {PRECISION_TARGET} |"
    )
    others = {k: s for k, s in hook.items() if k.startswith("other: ")}
    for kind, score in sorted(others.items()):
        print(
            f"| ({kind[7:]}, built-in) | - | | {score.true_findings + score.false_findings}"
            f" findings | | |"
        )
    by_format = score_by_format(corpus, erp_found)
    hook_by_format = score_by_format(corpus, hook_found)
    print("\n| format | secrets | look-alikes | erp-secrets scan P / R "
          "| detect-secrets + project plugins P / R |")  # fmt: skip
    print("|---|---|---|---|---|")
    lookalikes = Counter(label.format for label in corpus.negatives)
    for fmt in formats:
        o, h = by_format.get(fmt, Score()), hook_by_format.get(fmt, Score())
        print(f"| {fmt} | {o.labels} | {lookalikes[fmt]} | {_fmt(o.precision)} / "
              f"{_fmt(o.recall)} | {_fmt(h.precision)} / {_fmt(h.recall)} |")  # fmt: skip
    print(
        "\n| plain detect-secrets type | findings | on a true secret's line | precision "
        "| false positives mostly on |"
    )
    print("|---|---|---|---|---|")
    for secret_type, score in sorted(plain_types.items()):
        count = score.true_findings + score.false_findings
        print(
            f"| {secret_type} | {count} | {score.true_findings} | {_fmt(score.precision)} "
            f"| {_worst(score)} |"
        )
    misses = {k: _worst(s) for k, s in ours.items() if s.false_findings}
    if misses:
        print("\nerp-secrets scan false positives: "
              + "; ".join(f"{k}: {v}" for k, v in misses.items()))  # fmt: skip
    print(f"\nall targets met: {'yes' if ok else 'NO'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small corpus (about 1 MB)")
    parser.add_argument("--files", type=int, default=None, help="number of files")
    parser.add_argument("--keep", type=Path, default=None, help="write the corpus here and keep it")
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args(argv)
    files = args.files or (100 if args.quick else 800)
    with contextlib.ExitStack() as stack:
        root = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        root.mkdir(parents=True, exist_ok=True)
        corpus = generate(root, files=files, file_bytes=6_000, seed=args.seed)
        if args.keep:
            labels = {"positives": [vars(p) for p in corpus.positives],
                      "negatives": [vars(n) for n in corpus.negatives]}  # fmt: skip
            (root / "labels.json").write_text(json.dumps(labels, indent=1), encoding="utf-8")
        ok = report(corpus, cores=min(2, os.cpu_count() or 1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
