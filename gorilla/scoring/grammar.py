"""Tree-sitter Python grammars: the 0.20-series one that compat mode needs (strict parses through gorilla.calls).

The published APIBench figures were produced with tree-sitter-python's 0.20 grammar; grammars
from 0.21 on parse some free-text responses differently and change several figures. We get that
grammar from the compiled `languages.so` inside the `tree-sitter-languages==1.8.0` wheel (a
declared dependency) and load only its `tree_sitter_python` symbol with ctypes, so the wheel's
own Python binding (written for an older py-tree-sitter API) is never imported.
`GORILLA_COMPAT_GRAMMAR=/path/to/languages.so` points at another build of the same grammar.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
from functools import cache
from pathlib import Path

from tree_sitter import Language, Parser

from gorilla.errors import GorillaError


def _compat_library() -> Path:
    if env := os.environ.get("GORILLA_COMPAT_GRAMMAR"):
        return Path(env)
    spec = importlib.util.find_spec("tree_sitter_languages")
    if spec is None or not spec.submodule_search_locations:
        raise GorillaError("compat scoring needs tree-sitter-languages==1.8.0 (pip install 'tree-sitter-languages==1.8.0')")
    return Path(next(iter(spec.submodule_search_locations))) / "languages.so"


_keep_alive: list[ctypes.CDLL] = []  # the grammar's tables live in this library: never unload it


@cache
def compat_language() -> Language:
    """The tree-sitter-python 0.20 grammar the reference scorer bundled."""
    path = _compat_library()
    try:
        lib = ctypes.CDLL(str(path))
        fn = lib.tree_sitter_python
    except (OSError, AttributeError) as e:
        raise GorillaError(f"{path}: cannot load the compat Python grammar: {e}") from None
    _keep_alive.append(lib)
    fn.restype = ctypes.c_void_p
    new_capsule = ctypes.pythonapi.PyCapsule_New
    new_capsule.restype = ctypes.py_object
    new_capsule.argtypes = (ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p)
    return Language(new_capsule(fn(), b"tree_sitter.Language", None))


def compat_identity() -> str:
    """Identifies the compat grammar build (path, size, mtime) for persisted results."""
    path = _compat_library()
    st = path.stat()
    return f"{path}:{st.st_size}:{int(st.st_mtime)}"


def compat_parser() -> Parser:
    """A parser on the 0.20-series grammar (the current grammar's parser lives in gorilla.calls)."""
    return Parser(compat_language())
