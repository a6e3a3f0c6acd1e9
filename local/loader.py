"""Load a function's handler module the way Lambda does: its own code directory, its own module."""

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER_PATH = ROOT / "layers" / "common"

Handler = Callable[[dict[str, Any], Any], Any]


def load_module(code_uri: str | Path, handler: str = "app.lambda_handler") -> tuple[ModuleType, Handler]:
    """Import `<code_uri>/<module>.py` under a name unique to its directory.

    Every function is an `app.py`, so importing them by their plain name would make two functions
    share one module; a per-directory module name keeps them apart.
    """
    code_dir = (ROOT / code_uri).resolve()
    module_file, _, attribute = handler.rpartition(".")
    path = code_dir / f"{module_file.replace('.', '/')}.py"
    module_name = f"lambda_{code_dir.name}_{module_file.replace('.', '_')}"
    if str(LAYER_PATH) not in sys.path:
        sys.path.insert(0, str(LAYER_PATH))
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module, getattr(module, attribute)
