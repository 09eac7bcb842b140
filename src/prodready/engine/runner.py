"""A whole scan: discovery, cache, parallel analysis, then the filters that depend on the
configuration and the command line (confidence, per-path ignores, severity overrides, baseline,
diff).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from prodready import __version__
from prodready.engine.cache import (
    RACY_WINDOW_NS,
    ResultCache,
    Signature,
    default_cache_dir,
    stat_signature,
)
from prodready.engine.console_scripts import MANIFESTS as CONSOLE_SCRIPT_MANIFESTS
from prodready.engine.discovery import Discovery, matches_glob, resolve_target, where_named
from prodready.engine.function_roles import ARTIFACT as FUNCTION_ROLES
from prodready.engine.function_roles import apply_function_roles, function_role_spans
from prodready.engine.git import ALL_LINES, changed_lines
from prodready.engine.lifetime import children_die_on_sigterm, exit_with_parent
from prodready.engine.module_record import ModuleRecord
from prodready.engine.moot import Holder, drop_moot
from prodready.engine.pipeline import Content, FileAnalyzer, role_prefix, with_roles
from prodready.engine.project import project_facts
from prodready.engine.project_results import ProjectInputs
from prodready.engine.project_run import project_outcome
from prodready.engine.records import FileResult, ModuleRecords, SourceFile, content_digest
from prodready.engine.registry import Registry
from prodready.engine.roles import RoleMap, apply_roles, referenced_roles
from prodready.model import (
    Category,
    Config,
    FileKind,
    Finding,
    Profile,
    Rule,
    ScanError,
    ScanResult,
    ScanStats,
    UsageError,
)

SERIAL_THRESHOLD = 24  # below this many files to analyse, worker start-up costs more than it saves


@dataclass(slots=True)
class ScanOptions:
    targets: list[Path] = field(default_factory=lambda: [Path(".")])
    root: Path | None = None
    jobs: int | None = None
    use_cache: bool = True
    cache_dir: Path | None = None
    baseline: Path | None = None
    diff: str | None = None
    plugins: bool = True
    # Project rules judge the whole project (is there a health endpoint anywhere? a manifest?):
    # off when only some files are given, as by a pre-commit hook.
    project_rules: bool = True
    # Called with (files done, files in all) as results arrive, cache hits included.
    progress: Callable[[int, int], None] | None = None


def decide_root(targets: list[Path], explicit: Path | None = None) -> Path:
    """Paths in reports are relative to this: the cwd when it holds every target."""
    if explicit is not None:
        return resolve_target(explicit)
    cwd = Path.cwd().resolve()
    resolved = [where_named(target) for target in targets] or [cwd]
    if all(path == cwd or path.is_relative_to(cwd) for path in resolved):
        return cwd
    common = Path(os.path.commonpath([str(path) for path in resolved]))
    return common.parent if common.is_file() else common


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def scan(options: ScanOptions, config: Config, registry: Registry) -> ScanResult:
    """Scan with the rules ``registry`` holds (the composition root, prodready.catalog, builds
    it: the engine never imports rules)."""
    started = time.perf_counter()
    # Every file is read after this instant: a signature is trusted when the file's timestamp
    # is older than it by more than a timestamp's granularity (see engine.cache).
    trusted_before_ns = time.time_ns() - RACY_WINDOW_NS
    root = decide_root(options.targets, options.root)
    rules = registry.select(config)
    discovery = Discovery(root, config.exclude, config.respect_gitignore)
    sources = discovery.files(options.targets)
    prefix = role_prefix(root, options.targets)  # tests, scripts... are judged from there
    sources = with_roles(sources, prefix)
    role_documents = _role_documents(sources)  # every file, also those outside a --diff

    project_rules = [rule for rule in rules if rule.kind is FileKind.PROJECT]
    judge_project = bool(project_rules) and options.project_rules
    changed: dict[Path, frozenset[int]] | None = None
    outside_diff: list[SourceFile] = []  # their project facts may still make findings moot
    if options.diff is not None:
        changed = changed_lines(options.targets, options.diff)
        in_diff = [Path(s.path).resolve() in changed for s in sources]
        outside_diff = [s for s, inside in zip(sources, in_diff, strict=True) if not inside]
        sources = [s for s, inside in zip(sources, in_diff, strict=True) if inside]
    # Project rules judge the whole project also under --diff (a caller's transaction in an
    # unchanged module covers a changed function): the files outside the diff are looked up
    # in the cache, or analysed when it has no entry for them, for their facts only -- their
    # own findings and errors are not the diff's.
    context = outside_diff if judge_project else []
    everything = sources + context
    reported = frozenset(source.relpath for source in sources)

    baseline = load_baseline(options.baseline) if options.baseline is not None else None
    jobs = options.jobs or default_jobs()
    stats = ScanStats(jobs=jobs)

    cache: ResultCache | None = None
    cache_dir = options.cache_dir or _env_cache_dir() or default_cache_dir(root)
    if options.use_cache:
        cache = ResultCache(cache_dir, cache_key(registry, rules, config.profile, prefix))
        cache.load()

    results: list[FileResult] = []
    pending: list[SourceFile] = []
    signatures: dict[str, Signature | None] = {}  # of the files to analyse, taken before reading
    contents: dict[str, Content] = {}  # read to look them up: not read again to analyse them
    for source in everything:
        if cache is None:
            pending.append(source)
            continue
        cached, signature, content = _cached(cache, source, trusted_before_ns)
        if cached is not None:
            results.append(cached)
        else:
            pending.append(source)
            signatures[source.relpath] = signature
            if content is not None:
                contents[source.relpath] = content
    stats.cache_hits = len(results)
    stats.files_analyzed = len(pending)

    for result in analyze_all(pending, rules, config.profile, jobs, registry, contents):
        results.append(result)
        if cache is not None:
            cache.put(result, signatures.get(result.relpath))
        if options.progress is not None:
            options.progress(len(results), len(everything))
    if cache is not None and cache.dirty:
        cache.forget_missing(root, frozenset(source.relpath for source in everything))
        cache.save()

    def module_records() -> dict[str, ModuleRecord]:
        """Every Python module's facts, decoded from the cache only when something reads them;
        a file whose stored facts do not decode is analysed again (a miss found late)."""
        damaged = [r for r in results if r.module_record() is None and r.facts_damaged]
        if damaged:
            again = {r.relpath for r in damaged}
            fresh = analyze_all(
                [s for s in everything if s.relpath in again],
                rules,
                config.profile,
                jobs,
                registry,
            )
            by_path = {r.relpath: r for r in fresh}
            results[:] = [by_path.get(r.relpath, r) for r in results]
            stats.cache_hits -= len(by_path)
            stats.files_analyzed += len(by_path)
            if cache is not None:
                for result in by_path.values():
                    cache.put(result, None)  # hashed again next time: its entry was damaged
                cache.save()
        return {r.relpath: r.facts for r in results if r.facts is not None}

    facts = ModuleRecords(module_records)
    artifacts: dict[str, Any] = {}
    notes: list[str] = list(registry.notes)
    project_findings: list[Finding] = []
    project_errors: list[ScanError] = []
    if judge_project:
        # The same inputs as a full scan of the same tree, also under --diff: the outcome is
        # the whole project's (filtered to the diff below), so either scan reuses the other's.
        others: dict[str, FileKind] = {
            s.relpath: s.kind for s in everything if s.kind is not FileKind.PYTHON
        }
        inputs = None
        if cache is not None:
            kinds = {source.relpath: source.kind.value for source in everything}
            scanned = [(r.relpath, kinds.get(r.relpath, ""), r.digest) for r in results]
            project_root = root / prefix if prefix else root
            inputs = ProjectInputs(cache.key, project_root, config, scanned, cache_dir)
        outcome = project_outcome(
            project_rules,
            lambda: project_facts(root, dict(facts), others, prefix),
            config,
            cache_dir,
            inputs,
            trusted_before_ns,
        )
        project_findings, project_errors = outcome.findings, outcome.errors
        artifacts.update(outcome.artifacts)
        notes.extend(outcome.notes)

    findings: list[Finding] = []
    errors: list[ScanError] = []
    for result in results:  # after the project rules: a late miss may have replaced a result
        if result.relpath in reported:
            findings.extend(result.findings)
            errors.extend(result.errors)
    if cache is not None and cache.warning:
        errors.append(ScanError(str(cache.directory), cache.warning))
    findings.extend(project_findings)
    errors.extend(project_errors)

    role_map = RoleMap(config.roles, referenced_roles(role_documents, root), prefix)
    if any(finding.unless for finding in findings):
        holders = [(r.relpath, r.holds, r.role) for r in results if r.holds]
        if outside_diff and not context and cache is not None:
            holders.extend(_cached_holders(cache, outside_diff, trusted_before_ns))
        findings, stats.moot = drop_moot(findings, holders, role_map, root)
    findings = postprocess(findings, config, registry)
    if options.project_rules and any(f.role in (None, "service") for f in findings):
        spans = artifacts.get(FUNCTION_ROLES)
        if not judge_project:  # no project pass ran: the call graph is asked here
            others = {s.relpath: s.kind for s in everything if s.kind is not FileKind.PYTHON}
            spans = _function_roles(root, facts, others, prefix)
        findings = apply_function_roles(findings, spans)
    findings, stats.outside_roles = apply_roles(findings, registry.rules, role_map)
    if baseline is not None:
        before = len(findings)
        findings = [f for f in findings if f.fingerprint not in baseline]
        stats.suppressed_by_baseline = before - len(findings)
    if changed is not None:
        before = len(findings)
        findings = [f for f in findings if _in_diff(f, root, changed)]
        stats.outside_diff = before - len(findings)

    findings.sort(key=Finding.sort_key)
    errors.sort(key=lambda e: (e.path, e.line or 0))
    stats.duration_s = time.perf_counter() - started
    return ScanResult(
        root=str(root),
        files=len(sources),
        findings=findings,
        errors=errors,
        rules={rule.code: rule for rule in rules},
        config=config,
        stats=stats,
        facts=facts,
        artifacts=artifacts,
        notes=notes,
    )


def _function_roles(
    root: Path, facts: ModuleRecords, others: dict[str, FileKind], prefix: str
) -> list[dict[str, Any]]:
    """The function-role spans (:mod:`prodready.engine.function_roles`) of a scan that ran no
    project rule, named from the report root."""
    project = project_facts(root, dict(facts), others, prefix)
    spans = function_role_spans(project)
    for span in spans:
        span["path"] = prefix + span["path"]
    return spans


def cache_key(registry: Registry, rules: list[Rule], profile: Profile, roles_from: str = "") -> str:
    digest = hashlib.blake2b(digest_size=10)
    digest.update(roles_from.encode())  # the role of a file (test, script) depends on it
    digest.update(f"{__version__}|{sys.version_info[:2]}|{registry.fingerprint(rules)}|".encode())
    digest.update(json.dumps(profile.to_dict(), sort_keys=True).encode())
    return digest.hexdigest()


def _env_cache_dir() -> Path | None:
    value = os.environ.get("PRODREADY_CACHE_DIR")
    return Path(value) if value else None


def _cached_holders(
    cache: ResultCache, sources: list[SourceFile], trusted_before_ns: int
) -> Iterator[Holder]:
    """The project facts of files a ``--diff`` scan does not analyse, from cache entries of
    their current content; a file without one is unknown (it can only add facts, so a finding
    no known module makes moot is kept)."""
    for source in sources:
        if source.kind is FileKind.PYTHON and cache.knows(source.relpath):
            cached, _, _ = _cached(cache, source, trusted_before_ns)
            if cached is not None and cached.holds:
                yield (cached.relpath, cached.holds, cached.role)


def _cached(
    cache: ResultCache, source: SourceFile, trusted_before_ns: int
) -> tuple[FileResult | None, Signature | None, Content | None]:
    """The cached result of a file (None: analyse it), the signature to record for it, and
    the content read to look it up (handed to the analysis: a file is read and hashed once).

    An unchanged stat signature is a hit without reading the file. Otherwise the content digest
    decides -- when there is an entry to compare it with; a file without one is left for the
    analysis to read. The signature is taken before the read, so that an edit during the scan
    leaves a signature that no longer matches, never a new signature beside an old digest.
    """
    try:
        status = os.stat(source.path)
    except OSError:
        return None, None, None
    if not stat.S_ISREG(status.st_mode):
        return None, None, None  # the analysis reports what it is
    signature = stat_signature(status)
    trusted = signature if status.st_mtime_ns < trusted_before_ns else None
    if not cache.knows(source.relpath):
        return None, trusted, None
    result = cache.lookup(source.relpath, signature)
    if result is not None:
        return result, signature, None
    try:
        with open(source.path, "rb") as handle:
            data = handle.read()
    except OSError:
        return None, None, None
    digest = content_digest(data)
    result = cache.get(source.relpath, digest)
    if result is not None:
        cache.refresh(source.relpath, trusted)
        return result, trusted, None
    return None, trusted, Content(data, digest)


# -- analysis, serial or in worker processes --------------------------------------------------

_WORKER: FileAnalyzer | None = None
_WORKER_KEY: tuple[tuple[str, ...], Profile] | None = None


def _init_worker(
    codes: tuple[str, ...],
    profile: Profile,
    load_registry: Callable[[], Registry] | None,
    parent: int,
) -> None:
    global _WORKER, _WORKER_KEY
    exit_with_parent(parent)
    if _WORKER is None or (codes, profile) != _WORKER_KEY:
        if load_registry is None:
            raise RuntimeError("a spawned worker needs a registry it can rebuild (a loader)")
        registry = load_registry()
        _WORKER = FileAnalyzer([registry.rules[c] for c in codes], profile, builtin(registry))
        _WORKER_KEY = (codes, profile)
    # The AST of a file is freed by reference counting; frequent cyclic collections over the
    # long-lived objects of the process only cost time.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def _work(task: tuple[SourceFile, Content | None]) -> FileResult:
    assert _WORKER is not None
    return _WORKER.analyze(*task)


def builtin(registry: Registry) -> list[Rule]:
    """The built-in rules: a suppression may name one this run did not select."""
    return [rule for rule in registry.rules.values() if rule.pack == "builtin"]


def analyze_all(
    sources: list[SourceFile],
    rules: list[Rule],
    profile: Profile,
    jobs: int,
    registry: Registry | None = None,
    contents: dict[str, Content] | None = None,
) -> Iterator[FileResult]:
    """Analyse files, in parallel processes when there are enough of them to pay off.
    ``contents``: files already read (by relpath), analysed from those bytes."""
    global _WORKER, _WORKER_KEY
    if not sources:
        return
    known = contents or {}
    codes = tuple(rule.code for rule in rules)
    analyzer = FileAnalyzer(rules, profile, builtin(registry) if registry is not None else ())
    if jobs <= 1 or len(sources) < SERIAL_THRESHOLD:
        yield from (analyzer.analyze(source, known.get(source.relpath)) for source in sources)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Workers forked from here inherit the analyzer; spawned workers rebuild it by rule code.
    _WORKER, _WORKER_KEY = analyzer, (codes, profile)
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    ordered = sorted(sources, key=_size, reverse=True)
    chunk = max(1, min(16, len(ordered) // (jobs * 8)))
    with (
        ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=context,
            initializer=_init_worker,
            initargs=(codes, profile, registry.loader if registry else None, os.getpid()),
        ) as pool,
        children_die_on_sigterm(),
    ):
        tasks = [(source, known.get(source.relpath)) for source in ordered]
        yield from pool.map(_work, tasks, chunksize=chunk)


def _size(source: SourceFile) -> int:
    try:
        return os.path.getsize(source.path)
    except OSError:
        return 0


# -- filters ----------------------------------------------------------------------------------


def postprocess(findings: list[Finding], config: Config, registry: Registry) -> list[Finding]:
    """Confidence floor, per-path ignores and severity overrides from the configuration."""
    kept: list[Finding] = []
    overrides = _ordered_overrides(config)
    for finding in findings:
        if finding.confidence < config.min_confidence:
            continue
        rule = registry.rules.get(finding.rule)
        if rule is not None and _path_ignored(finding, rule, config, registry):
            continue
        if rule is not None:
            for selector, severity in overrides:
                if registry.matches(selector, rule):
                    finding = replace(finding, severity=severity)
        kept.append(finding)
    return kept


def _ordered_overrides(config: Config) -> list[tuple[str, Any]]:
    """Broad selectors first so that specific ones win: categories, code prefixes, rules."""
    categories = {c.value for c in Category}

    def specificity(item: tuple[str, Any]) -> int:
        selector = item[0].strip()
        if selector.upper() == "ALL":
            return 0
        if selector.lower() in categories:
            return 1
        return 2 if not selector[-3:].isdigit() else 3

    return sorted(config.severity, key=specificity)


def _path_ignored(finding: Finding, rule: Rule, config: Config, registry: Registry) -> bool:
    for pattern, selectors in config.per_path_ignores:
        if matches_glob(finding.path, pattern) and any(
            registry.matches(selector, rule) for selector in selectors
        ):
            return True
    return False


def _role_documents(sources: list[SourceFile]) -> list[tuple[str, str, str]]:
    """(project path, report path, text) of every scanned file, with the text of the
    Dockerfiles, compose files and packaging manifests only: what they run, build and install
    as commands tells the role of other files (engine.roles)."""
    documents: list[tuple[str, str, str]] = []
    for source in sources:
        text = ""
        if source.kind in (FileKind.DOCKERFILE, FileKind.COMPOSE) or (
            source.relpath.rsplit("/", 1)[-1] in CONSOLE_SCRIPT_MANIFESTS
        ):
            try:
                with open(source.path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read(1_048_576)
            except OSError:
                pass
        documents.append((source.role or source.relpath, source.relpath, text))
    return documents


def _in_diff(finding: Finding, root: Path, changed: dict[Path, frozenset[int]]) -> bool:
    lines = changed.get((root / finding.path).resolve())
    if lines is None:
        return False
    if lines is ALL_LINES:
        return True
    return any(line in lines for line in range(finding.line, finding.end_line + 1))


# -- baseline ---------------------------------------------------------------------------------


def load_baseline(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read baseline {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"baseline {path} is not valid JSON: {exc}") from exc
    entries = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UsageError(
            f"baseline {path} is invalid: no 'findings' list (write one with --write-baseline)"
        )
    fingerprints: set[str] = set()
    for index, entry in enumerate(entries):
        value = entry.get("fingerprint") if isinstance(entry, dict) else None
        if not isinstance(value, str):
            raise UsageError(
                f"baseline {path} is invalid: findings[{index}] has no string 'fingerprint'"
            )
        fingerprints.add(value)
    return fingerprints


def write_baseline(path: Path, findings: Iterable[Finding]) -> None:
    """Record current findings so later scans report only new ones (atomic write)."""
    entries = [
        {"fingerprint": f.fingerprint, "rule": f.rule, "path": f.path, "line": f.line}
        for f in sorted(findings, key=Finding.sort_key)
    ]
    payload = json.dumps(
        {"tool": "prodready", "version": __version__, "findings": entries}, indent=2
    )
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(payload + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"cannot write baseline {path}: {exc.strerror or exc}") from exc
