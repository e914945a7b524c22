"""The package's layers import only downwards (issue 16): networks, data and metrics below the
objectives, callbacks above them, the CLI on top; importing a lower layer loads no higher one."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lit_gan"
RANKS = {  # module prefix -> layer; a module may import only modules of its own layer or below
    "lit_gan.errors": 0, "lit_gan.compat": 0, "lit_gan.checks": 0, "lit_gan.yaml_checks": 0, "lit_gan.files": 0, "lit_gan.specs": 0, "lit_gan.tensors": 0,
    "lit_gan.image_files": 0, "lit_gan.run_folders": 0,
    "lit_gan.networks": 1, "lit_gan.data": 1,
    "lit_gan.metrics": 2, "lit_gan.checkpoints": 2, "lit_gan.checkpoint_io": 2, "lit_gan.interrupt": 2,
    "lit_gan.objectives": 3,
    "lit_gan.callbacks": 4,
    "lit_gan.cli_checks": 5, "lit_gan.cli": 5, "lit_gan.resume_last": 5, "lit_gan.disk_full": 5, "lit_gan.console": 5, "lit_gan.parser": 5, "lit_gan.evaluate": 5, "lit_gan.evaluate_inputs": 5, "lit_gan.evaluate_report": 5, "lit_gan.evaluate_toy": 5, "lit_gan.evaluate_stacked": 5, "lit_gan.run_config": 5,
    "lit_gan.generate": 5, "lit_gan.export": 5, "lit_gan.commands": 5, "lit_gan.shipped_configs": 5,
}


def rank(module: str) -> int:
    return next(r for prefix, r in sorted(RANKS.items(), key=lambda kv: -len(kv[0]))
                if module == prefix or module.startswith(prefix + "."))


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name != "lit_gan":  # the package's own __init__ loads the families lazily, on first use
            found.append((name, path))
    return found


@pytest.mark.parametrize("name,path", modules(), ids=[n for n, _ in modules()])
def test_a_module_imports_only_its_own_layer_or_lower_ones(name, path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    upward = sorted(m for m in imported if m.startswith("lit_gan.") and rank(m) > rank(name))
    assert not upward, f"{name} (layer {rank(name)}) imports {upward} from a higher layer"


@pytest.mark.parametrize("lower,absent", [
    ("lit_gan.networks", ["lit_gan.objectives", "lit_gan.metrics", "lit_gan.data", "lit_gan.callbacks"]),
    ("lit_gan.metrics", ["lit_gan.objectives", "lit_gan.callbacks", "lit_gan.cli"]),
    ("lit_gan.objectives", ["lit_gan.callbacks", "lit_gan.cli"]),
])
def test_importing_a_layer_loads_no_higher_one(lower, absent):
    code = f"import sys, {lower}; print(' '.join(m for m in {absent!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import {lower} loaded {out}"


def test_the_families_are_still_reachable_from_the_package():
    code = "import lit_gan; from lit_gan import WGANGP; print(WGANGP.__module__, lit_gan.FGAN.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["lit_gan.objectives.wgan", "FGAN"]


def test_importing_evaluate_does_not_import_the_cli():
    """No import cycle: ``lit-gan evaluate`` takes its parser from lit_gan.parser, not from lit_gan.cli (which
    imports lit_gan.evaluate when it runs ``lit-gan evaluate``)."""
    code = "import sys, lit_gan.evaluate; print('lit_gan.cli' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
