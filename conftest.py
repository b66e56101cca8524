"""Test-session settings shared by the core's and every plugin's tests.

* ``ZOO_HOME`` points at a fresh temporary folder (and torch.compile's cache into it): tests never write into a
  user's cache.
* ``ZOO_DATA_DIR`` points at ``../shared/data`` (the project's real datasets) unless already set.
* torch uses one thread: the models' tensors are small, and on a 2-core CI machine two threads per process
  are slower than one.
"""

import os
import tempfile
from pathlib import Path

_HOME = tempfile.mkdtemp(prefix="zoo-test-home-")
os.environ["ZOO_HOME"] = _HOME
os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(_HOME, "inductor")  # torch.compile's cache (tests of --compile)
os.environ.pop("ZOO_OFFLINE", None)
_SHARED = Path(__file__).resolve().parent.parent / "shared" / "data"
if "ZOO_DATA_DIR" not in os.environ and _SHARED.is_dir():
    os.environ["ZOO_DATA_DIR"] = str(_SHARED)


def pytest_configure(config):
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    torch.set_num_threads(1)
