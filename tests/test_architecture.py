"""The layout's rules, checked by reading the source (``ast``), so a change that breaks one
goes red here rather than in a reviewer's head.

1. The core (all of ``mdm_ot`` but ``experiments/`` and ``cli/``) never imports
   ``mdm_ot.experiments`` or ``mdm_ot.cli``, not even lazily inside a function.
2. No module imports another package's private names. A private thing is a module or a
   name that starts with ``_``; it belongs to the package that holds it. A module may
   import the privates of its own package or of an enclosing one (the root's
   ``mdm_ot._pytree`` and ``mdm_ot._plotting`` serve every package); between sibling modules
   of a package, private names come from that package's ``_core`` only.
3. No module is over 600 lines.
4. No branching on concrete schedule classes outside ``mdm_ot/schedules``: an optional
   capability of a family is a base-class method.
5. Tests and paper checks use the public API (a short, commented allowlist aside).
6. Each package's ``__init__`` re-exports exactly the names in its ``__all__``.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

import mdm_ot

PKG_ROOT = pathlib.Path(mdm_ot.__file__).resolve().parent
REPO = PKG_ROOT.parent
MAX_LINES = 600
SCHEDULE_CLASSES = {"Linear", "Sine", "Sine2", "Poly", "Cosine", "LogLinear", "Optimal",
                    "Identity", "BetaCDF", "TabulatedSchedule"}

# Tests that are about an internal of one package (each says why in a comment there).
TEST_PRIVATE_ALLOWLIST: dict[str, set[str]] = {
    # log alpha' near t = 1 has no public face
    "tests/bruteforce/test_paths.py": {"mdm_ot.bruteforce._core"},
    # the repair of chained near-ties in the confidence ranking
    "tests/sampling/test_sampling.py": {"mdm_ot.sampling._core"},
    # the inverse-CDF draw never lands on a zero-probability outcome
    "tests/tuning/test_tuning.py": {"mdm_ot.tuning._objectives"},
    # the tanh-sinh rule's nodes and the remainder sums of its tail correction
    "tests/test_quadrature.py": {"quad._rule", "quad._remainder_sums"},
    # the wiring of `reproduce --full` into the code table, at a tiny size
    "tests/experiments/codelines/test_code_cli.py": {"report._code_section"},
    # the atomic outputs shared by every package live in a root-level private module
    "tests/test_io.py": {"mdm_ot._io"},
    # the face's own table (which package lends each name), checked against the packages
    "tests/test_architecture.py": {"mdm_ot._PACKAGES", "mdm_ot._WHERE"},
}


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _rel(path: pathlib.Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name


def _package_of(module: str, path: pathlib.Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_package(module: str) -> bool:
    return (REPO / pathlib.Path(*module.split(".")) / "__init__.py").exists()


def _library_files():
    return sorted(PKG_ROOT.rglob("*.py"))


def _imports(path: pathlib.Path, package: str):
    """Yield ``(lineno, module, name_or_None)`` for every import in the file (absolute)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([mod] if mod else []))
            for alias in node.names:
                yield node.lineno, mod, alias.name


def _private_owner(module: str, name: str | None) -> tuple[str, str] | None:
    """The package owning the private thing this import reaches, and what it is."""
    if not module.startswith("mdm_ot"):
        return None
    parts = module.split(".")
    for i, part in enumerate(parts):
        if _is_private(part):
            return ".".join(parts[:i]), module
    if name is not None and _is_private(name):
        if _is_package(module):
            # `from pkg import _sub` (a private submodule) or a private name of the package
            return module, f"{module}.{name}"
        return module.rpartition(".")[0], f"{module}.{name}"
    return None


def _violations_private(path: pathlib.Path, module: str, package: str) -> list[str]:
    bad = []
    for lineno, mod, name in _imports(path, package):
        owner = _private_owner(mod, name)
        if owner is None:
            continue
        owning_pkg, what = owner
        own_or_enclosing = package == owning_pkg or package.startswith(owning_pkg + ".")
        if not own_or_enclosing:
            bad.append(f"{_rel(path)}:{lineno} imports {what} (private to {owning_pkg})")
            continue
        # Between sibling modules, private *names* come from the package's _core only.
        if (name is not None and _is_private(name) and not _is_package(mod)
                and mod.rpartition(".")[0] == package and not mod.endswith("._core")
                and mod != module):
            bad.append(f"{_rel(path)}:{lineno} imports private {name} from sibling {mod}"
                       " (shared privates live in the package's _core)")
    return bad


def test_core_never_imports_experiments_or_cli():
    bad = []
    for path in _library_files():
        module = _module_name(path)
        if module.startswith(("mdm_ot.experiments", "mdm_ot.cli")):
            continue
        for lineno, mod, name in _imports(path, _package_of(module, path)):
            full = mod if name is None else f"{mod}.{name}"
            if full.startswith(("mdm_ot.experiments", "mdm_ot.cli")) or mod in (
                    "mdm_ot.experiments", "mdm_ot.cli"):
                bad.append(f"{path.relative_to(REPO)}:{lineno} imports {full}")
    assert bad == []


def test_no_module_imports_another_packages_private_names():
    bad = []
    for path in _library_files():
        module = _module_name(path)
        bad += _violations_private(path, module, _package_of(module, path))
    assert bad == []


def test_the_scan_reports_what_the_redesign_removed(tmp_path):
    """The scan is not vacuous: a cross-package private import, a private name from a
    sibling other than _core, are reported; the allowed forms are not."""
    probe = tmp_path / "probe.py"
    probe.write_text("from mdm_ot.sampling._core import check_sizes\n"      # other package's
                     "from mdm_ot.sampling import _sample\n"                # other package's
                     "from mdm_ot._pytree import is_concrete\n"             # root's: allowed
                     "from mdm_ot.tuning._core import _shared\n"            # own _core: allowed
                     "from mdm_ot.tuning._search import _helper\n")         # sibling: not allowed
    bad = _violations_private(probe, "mdm_ot.tuning._probe", "mdm_ot.tuning")
    assert [b.split(":")[1].split()[0] for b in bad] == ["1", "2", "5"]


def test_no_module_is_over_the_line_limit():
    long = {str(p.relative_to(REPO)): n for p in _library_files()
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_branching_on_concrete_schedule_classes_outside_schedules():
    bad = []
    for path in _library_files():
        if "schedules" in path.relative_to(PKG_ROOT).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "issubclass"):
                classes = node.args[1]
                names = [e.id for e in getattr(classes, "elts", [classes]) if isinstance(e, ast.Name)]
                names += [e.attr for e in getattr(classes, "elts", [classes]) if isinstance(e, ast.Attribute)]
                hit = SCHEDULE_CLASSES.intersection(names)
                if hit:
                    bad.append(f"{path.relative_to(REPO)}:{node.lineno} isinstance on {sorted(hit)}")
    assert bad == []


def _test_files():
    return sorted([*(REPO / "tests").rglob("*.py"), *(REPO / "paper_checks").rglob("*.py")])


def test_tests_use_the_public_api():
    bad = []
    for path in _test_files():
        rel = str(path.relative_to(REPO))
        allowed = TEST_PRIVATE_ALLOWLIST.get(rel, set())
        for lineno, mod, name in _imports(path, ""):
            owner = _private_owner(mod, name)
            if owner is not None and owner[1] not in allowed:
                bad.append(f"{rel}:{lineno} imports {owner[1]}")
        # attribute access to a private name of an imported library module: `P._nodes`
        tree = ast.parse(path.read_text())
        aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and (n.module or "").startswith("mdm_ot") for a in n.names}
        aliases |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                    if isinstance(n, ast.Import) for a in n.names if a.name.startswith("mdm_ot")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and _is_private(node.attr)
                    and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and f"{node.value.id}.{node.attr}" not in allowed):
                bad.append(f"{rel}:{node.lineno} uses {node.value.id}.{node.attr}")
    assert bad == []


PACKAGES = sorted(_module_name(p) for p in PKG_ROOT.rglob("__init__.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_package_exports_match_all(package):
    mod = importlib.import_module(package)
    names = getattr(mod, "__all__", None)
    if names is None:  # a namespace of subpackages/modules only (experiments, cli, ...)
        return
    assert len(names) == len(set(names)), "duplicates in __all__"
    missing = [n for n in names if not hasattr(mod, n)]
    assert missing == []
    path = REPO / pathlib.Path(*package.split(".")) / "__init__.py"
    # every public name re-exported from the package's own private modules is in __all__
    reexported = {a.asname or a.name for n in ast.parse(path.read_text()).body
                  if isinstance(n, ast.ImportFrom) and (n.module or "").startswith(package + "._")
                  for a in n.names if not _is_private(a.asname or a.name)}
    assert reexported - set(names) == set(), "re-exported but not in __all__"


def test_the_face():
    """`import mdm_ot` gives the core API by name (loaded on first use: `mdm_ot.__getattr__`)."""
    for name in ("beta_schedule", "reduced_energy", "tune", "parse_alpha", "sample_count",
                 "exact_output", "kinetic_energy", "integrate01"):
        assert callable(getattr(mdm_ot, name)), name
    assert set(mdm_ot.__all__) <= set(dir(mdm_ot))
    for name in mdm_ot.__all__:  # each name is the object its package exports, not a copy
        obj = getattr(mdm_ot, name)
        if name not in mdm_ot._PACKAGES:
            home = importlib.import_module(mdm_ot._WHERE[name])
            assert obj is getattr(home, name), name
            if home.__name__ != "mdm_ot._pytree":
                assert name in home.__all__, f"{name} is not public in {home.__name__}"
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        mdm_ot.nonexistent  # noqa: B018


def test_importing_the_package_or_the_cli_does_not_load_jax():
    """The command line installs its signal handlers before JAX loads (issue 15)."""
    code = "import sys, mdm_ot, mdm_ot.cli; sys.exit('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def _definitions():
    """``(name, kind, file)`` of every function and class defined anywhere in the library."""
    out = []
    for path in _library_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.append((node.name, type(node).__name__, _rel(path)))
    return out


def test_one_definition_of_each_idea():
    """One Kendall's tau, one two-stage protocol, one tabulated schedule, one enumeration of
    the states (the copies the redesign removed had these names or these idioms)."""
    defs = _definitions()
    assert [(n, f) for n, _, f in defs if "kendall" in n.lower()] == [("kendall_tau", "mdm_ot/stats.py")]
    two_stage = sorted((n, f) for n, _, f in defs if "two_stage" in n)
    # `two_stage` is the grid objective's front end to the one protocol, `two_stage_search`
    assert two_stage == [("two_stage", "mdm_ot/tuning/_search.py"),
                         ("two_stage_search", "mdm_ot/tuning/_search.py")]
    src = (PKG_ROOT / "tuning" / "_search.py").read_text()
    body = src[src.index("def two_stage("):]
    assert "two_stage_search(" in body
    tabulated = [(n, f) for n, kind, f in defs if kind == "ClassDef"
                 and ("Grid" in n or "FreeForm" in n or "Tabulated" in n) and n.endswith("Schedule")]
    assert tabulated == [("TabulatedSchedule", "mdm_ot/schedules/_tabulated.py")]
    # enumerating sequences: only bruteforce/_states.py builds digit tables of states
    # (mdm_ot/testing draws test inputs and keeps its own, independent of the library)
    enumerators = []
    for path in _library_files():
        if _rel(path) == "mdm_ot/bruteforce/_states.py" or "testing" in path.parts:
            continue
        text = path.read_text()
        if any(idiom in text for idiom in ("itertools.product(", "np.indices(", "def _digits")):
            enumerators.append(_rel(path))
    assert enumerators == []
    assert [f for n, _, f in defs if n in ("all_states", "_all_states_np", "state_space",
                                            "_state_space")] == ["mdm_ot/bruteforce/_states.py"] * 4
