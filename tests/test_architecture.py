"""The layering of docs/design.md holds: domain, formats and client code import no Azure SDK."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SDK_FREE = ["shared/domain", "shared/formats", "agent_client"]
THIN_TRIGGERS = "functions"


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", SDK_FREE)
def test_domain_and_client_import_no_azure_sdk(package):
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in _imports(path)
        if name == "azure" or name.startswith("azure.")
    ]
    assert offenders == []


def test_only_adapters_import_azure_storage_or_cosmos():
    offenders = []
    for path in (ROOT / "shared").rglob("*.py"):
        if "adapters" in path.parts:
            continue
        offenders += [
            f"{path.relative_to(ROOT)}: {name}" for name in _imports(path)
            if name.startswith(("azure.storage", "azure.cosmos", "azure.core", "azure.identity"))
        ]
    assert offenders == []


def test_triggers_stay_thin():
    """A trigger module parses, calls one service function and returns: no branching logic."""
    for path in (ROOT / THIN_TRIGGERS).glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.For, ast.While)):
                pytest.fail(f"{path.name} line {node.lineno}: loops belong in shared/services")


def test_lower_layers_never_import_upper_ones():
    order = {"shared.domain": 0, "shared.formats": 0, "shared.adapters": 1, "shared.services": 2, "functions": 3}
    offenders = []
    for path in ROOT.joinpath("shared").rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        layer = next((rank for prefix, rank in order.items() if module.startswith(prefix)), None)
        if layer is None:
            continue
        for name in _imports(path):
            target = next((rank for prefix, rank in order.items() if name.startswith(prefix)), None)
            if target is not None and target > layer:
                offenders.append(f"{module} imports {name}")
    assert offenders == []
