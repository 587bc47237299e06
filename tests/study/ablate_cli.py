"""``tools/ablate.py`` loaded as a module, so tests can call its option checks directly."""

from __future__ import annotations

import importlib.util

from conftest import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location("ablate", REPO_ROOT / "tools" / "ablate.py")
ablate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ablate)
check_options = ablate.check_options
