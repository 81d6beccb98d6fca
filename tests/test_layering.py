"""The house's layering (DESIGN.md "pure rules, one engine, thin transports"), checked on
the source: which modules may import a client library, read the clock or log, and that
imports flow one way, from the parsers up to the wrapper.

Read from the source with ``ast`` (no module is imported), so a violation anywhere in a
module counts, whichever branch it is on; an import under ``if TYPE_CHECKING:`` counts too
(a type is a dependency as well).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "httpcache"

#: Lowest first. A module may import modules of its own layer and of the layers below it.
LAYERS: tuple[frozenset[str], ...] = (
    # parsers and values every layer reads
    frozenset({"exceptions", "_sf", "_headers", "keys"}),
    frozenset({"models", "_directives", "_rules"}),
    # the policy: RFC 9111 as pure functions and frozen decisions
    frozenset({"_overrides", "_freshness", "_vary", "_ranges", "_validation", "_invalidation", "_outcomes", "policy"})
    | {"_info"},
    # stores and the storage format: bytes in, bytes out
    frozenset({"cache", "caches", "_body", "serialize"}),
    # the shell around the store: key -> store -> format -> policy -> store
    frozenset({"controller", "_settings", "_store", "_spool", "_decoded", "_variants", "_values", "_coalesce"})
    | {"_leases", "_refresh", "_tee", "_stats", "_inspection", "_logtext", "_lookup", "_compat"},
    # the flows, client-agnostic (and cachecontrol's heuristics: they read the clock)
    frozenset({"engine", "_answers", "_transport", "heuristics"}),
    # the transport for requests
    frozenset({"adapter", "_messages"}),
    # entry points
    frozenset({"wrapper", "_demo", "_cli", "__init__", "__main__"}),
)
POLICY = LAYERS[0] | LAYERS[1] | LAYERS[2]
#: The only modules that may import a client library.
TRANSPORT = frozenset({"adapter", "_messages", "wrapper", "_demo", "_cli"})
CLIENT_LIBRARIES = frozenset({"requests", "urllib3"})
CLOCK_CALLS = frozenset({("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("datetime", "now")})


def _name(path: Path) -> str:
    """The module's layer name: ``caches`` for everything under ``httpcache/caches``."""
    if PACKAGE not in path.parents:
        return path.stem
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


MODULES = {path: _name(path) for path in sorted(PACKAGE.rglob("*.py"))}


def _layer(name: str) -> int:
    for index, layer in enumerate(LAYERS):
        if name in layer:
            return index
    raise AssertionError(f"httpcache/{name}: in no layer of tests/test_layering.py (place it there)")


def _imports(path: Path) -> set[str]:
    """Top-level names a module imports: ``requests``, ``time``, and ``httpcache.<name>`` as
    ``.<name>`` (for ``from . import a, b``: ``.a``, ``.b``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside_caches = _name(path) == "caches"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                assert node.module is not None
                top = node.module.split(".")[0]
                if top == "httpcache":
                    rest = node.module.split(".")[1:]
                    found.update({f".{rest[0]}"} if rest else {f".{alias.name}" for alias in node.names})
                else:
                    found.add(top)
                continue
            parts = (node.module or "").split(".")
            if inside_caches and node.level == 1:
                found.add(".caches")  # a module of httpcache.caches importing its own
            elif parts[0]:
                found.add(f".{parts[0]}")
            else:
                found.update(f".{alias.name}" for alias in node.names)
    return found


def _clock_calls(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and (owner.id, node.func.attr) in CLOCK_CALLS:
                calls.append(f"line {node.lineno}: {owner.id}.{node.func.attr}()")
    return calls


@pytest.mark.parametrize("path", list(MODULES), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_one_way(path: Path) -> None:
    """A module imports only from its own layer and the layers below it."""
    name = MODULES[path]
    mine = _layer(name)
    upward = sorted(dep for dep in _imports(path) if dep.startswith(".") and _layer(dep[1:]) > mine)
    assert not upward, f"httpcache/{path.relative_to(PACKAGE)} (layer {mine}) imports from above it: {upward}"


@pytest.mark.parametrize("path", list(MODULES), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_transport_imports_a_client_library(path: Path) -> None:
    name = MODULES[path]
    if name in TRANSPORT:
        return
    used = sorted(_imports(path) & CLIENT_LIBRARIES)
    assert not used, f"httpcache/{path.relative_to(PACKAGE)} imports {used}: only {sorted(TRANSPORT)} may"


def test_the_engine_reaches_no_client_library() -> None:
    """Nothing the engine imports, directly or through other modules, imports requests or urllib3."""
    by_name: dict[str, set[str]] = {}
    for path, name in MODULES.items():
        by_name.setdefault(name, set()).update(_imports(path))
    seen: set[str] = set()
    todo = ["engine"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        deps = by_name[name]
        used = sorted(deps & CLIENT_LIBRARIES)
        assert not used, f"the engine reaches httpcache/{name}, which imports {used}"
        todo.extend(dep[1:] for dep in deps if dep.startswith("."))
    assert "adapter" not in seen and "_messages" not in seen


@pytest.mark.parametrize(
    "path", [p for p, n in MODULES.items() if n in POLICY], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_the_policy_reads_no_clock_and_logs_nothing(path: Path) -> None:
    """DESIGN.md: the policy is pure: ``now`` is an argument, and it logs nothing."""
    assert "logging" not in _imports(path), f"httpcache/{path.relative_to(PACKAGE)} imports logging"
    assert not _clock_calls(path), f"httpcache/{path.relative_to(PACKAGE)} reads the clock: {_clock_calls(path)}"


def test_stores_know_no_http() -> None:
    """DESIGN.md: stores are bytes in, bytes out; they import only the store interface."""
    allowed = {".cache", ".exceptions", ".caches"}
    for path, name in MODULES.items():
        if name != "caches" and name != "cache":
            continue
        internal = {dep for dep in _imports(path) if dep.startswith(".")}
        assert internal <= allowed, f"httpcache/{path.relative_to(PACKAGE)} imports {sorted(internal - allowed)}"


def test_the_checks_see_violations(tmp_path: Path) -> None:
    """The readers above find what they look for (a check that cannot fail is no check)."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from __future__ import annotations\nimport time, logging\nimport requests\n"
        "from . import engine\nfrom .adapter import X\nfrom httpcache.wrapper import CacheControl\n"
        "def f():\n    return time.time() + time.monotonic()\n",
        encoding="utf-8",
    )
    assert _imports(sample) >= {"time", "logging", "requests", ".engine", ".adapter", ".wrapper"}
    assert len(_clock_calls(sample)) == 2
