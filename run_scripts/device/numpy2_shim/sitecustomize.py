# Device runs only (never shipped): the H200 image has numpy 2, and RecBole 1.2.1's
# Config.compatibility_settings reads aliases numpy 2 removed (np.float_, np.complex_, np.unicode_).
# Restore exactly those aliases so that RecBole's own shim runs; nothing else changes.
import importlib.util as _util
import os as _os
import sys as _sys

import numpy as _np

for _name, _value in (("float_", _np.float64), ("complex_", _np.complex128), ("unicode_", _np.str_)):
    if _name not in _np.__dict__:
        setattr(_np, _name, _value)

# This file shadows any sitecustomize of the image: run that one too.
_here = _os.path.dirname(_os.path.abspath(__file__))
for _entry in _sys.path:
    _candidate = _os.path.join(_entry or ".", "sitecustomize.py")
    if _os.path.abspath(_entry or ".") != _here and _os.path.isfile(_candidate):
        _spec = _util.spec_from_file_location("_image_sitecustomize", _candidate)
        _spec.loader.exec_module(_util.module_from_spec(_spec))
        break
