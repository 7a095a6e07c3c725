"""Where the course keeps its data: the project's ``data/`` folder and the download cache."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR", "CACHE_DIR"]

# The project's data/ folder (bundled digits and photos); VITLIB_DATA_DIR points elsewhere if the package
# is installed on its own.
DATA_DIR = Path(os.environ.get("VITLIB_DATA_DIR", Path(__file__).resolve().parents[2] / "data"))
# Downloads (CIFAR-10) are kept here; VITLIB_CACHE to change it.
CACHE_DIR = Path(os.environ.get("VITLIB_CACHE", Path.home() / ".cache" / "vitlib"))
