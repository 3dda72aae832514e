"""The shape of portal/: imports point one way between areas, no circles, services never read the request."""
from __future__ import annotations

import ast
import os

from portal import ROOT

# Each area may import the shared modules and the areas before it, never one after it.
AREAS = ("auth", "admin", "patients", "schedule", "records", "payments", "dashboard")
# Shared modules every area builds on; they import no area.
BASE = ("actor", "audit", "clinic_time", "config", "db", "domain", "errors", "extensions", "idempotency",
        "metrics", "models", "money", "validation", "web")
# What services and queries must not read: the request belongs to the view.
REQUEST_NAMES = {("flask", "request"), ("flask", "session"), ("flask", "g"), ("flask_login", "current_user")}


def module_name(path: str) -> str:
    """'portal/schedule/services.py' -> 'portal.schedule.services'."""
    parts = os.path.normpath(path).removesuffix(".py").split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[str, str | None]]:
    """(imported module, imported name or None) for every import anywhere in a module's source."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.extend((target, alias.name) for alias in node.names)
    return found


def import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """Module -> the portal modules it imports (a `from package import module` counts as the module)."""
    modules = {module_name(path): path for path in sources}
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for target, name in imports_of(sources[path], module, path.endswith("__init__.py")):
            if name and f"{target}.{name}" in modules:
                targets.add(f"{target}.{name}")
            elif target in modules:
                targets.add(target)
        if path.endswith("__init__.py"):  # a blueprint package imports its views, which import it back
            targets = {t for t in targets if not t.startswith(module + ".")}
        graph[module] = targets - {module}
    return graph


def area_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in AREAS else None


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports from an area into a later area, or from a shared base module into any area."""
    problems = []
    for module, targets in sorted(graph.items()):
        source_area = area_of(module)
        is_base = len(module.split(".")) > 1 and module.split(".")[1] in BASE
        for target in sorted(targets):
            target_area = area_of(target)
            if target_area is None or target_area == source_area:
                continue
            if is_base:
                problems.append(f"{module} (shared) imports the area module {target}")
            elif source_area and AREAS.index(target_area) > AREAS.index(source_area):
                problems.append(f"{module} imports {target}, an area that comes after {source_area}")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle among the modules (one path per circle found by depth-first search)."""
    found, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                found.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def request_readers(sources: dict[str, str]) -> list[str]:
    """services/queries modules that import the request, the session or the signed-in user."""
    problems = []
    for path, source in sorted(sources.items()):
        if os.path.basename(path) not in ("services.py", "queries.py"):
            continue
        for target, name in imports_of(source, module_name(path), False):
            if (target, name) in REQUEST_NAMES:
                problems.append(f"{path} imports {target}.{name}")
    return problems


def portal_sources() -> dict[str, str]:
    sources = {}
    for folder, _, files in os.walk(os.path.join(ROOT, "portal")):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as handle:
                    sources[os.path.relpath(path, ROOT)] = handle.read()
    return sources


def test_areas_import_only_earlier_areas_and_shared_modules_import_none():
    assert layer_violations(import_graph(portal_sources())) == []


def test_portal_has_no_import_circles():
    assert cycles(import_graph(portal_sources())) == []


def test_services_and_queries_never_read_the_request():
    assert request_readers(portal_sources()) == []


PLANTED = {
    "portal/__init__.py": "",
    "portal/db.py": "",
    "portal/web.py": "from .schedule import views\n",                    # shared -> area
    "portal/patients/__init__.py": "",
    "portal/patients/services.py": ("from ..db import transaction\n"
                                    "def f():\n    from ..schedule.queries import day_list\n"),  # earlier -> later
    "portal/patients/search.py": "from .services import f\n",
    "portal/schedule/__init__.py": "from . import views\n",
    "portal/schedule/views.py": "from ..patients import search\n",           # later -> earlier: allowed
    "portal/schedule/queries.py": "from flask import request\nfrom .services import book\n",
    "portal/schedule/services.py": "from flask_login import current_user\nfrom .queries import x\n",
}


def test_the_checks_find_planted_violations():
    sources = {path.replace("/", os.sep): source for path, source in PLANTED.items()}
    graph = import_graph(sources)
    assert layer_violations(graph) == [
        "portal.patients.services imports portal.schedule.queries, an area that comes after patients",
        "portal.web (shared) imports the area module portal.schedule.views",
    ]
    assert cycles(graph) == [["portal.schedule.queries", "portal.schedule.services", "portal.schedule.queries"]]
    assert request_readers(sources) == [
        os.path.join("portal", "schedule", "queries.py") + " imports flask.request",
        os.path.join("portal", "schedule", "services.py") + " imports flask_login.current_user",
    ]
