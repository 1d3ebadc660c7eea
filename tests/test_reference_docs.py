"""The user reference under docs/reference/ stays complete.

Every op registered under ``torch.ops.sgl_kernel`` and every public name of the
package and of its public submodules must be named by some page, in a code
span that starts with the name (`` `rmsnorm` ``, `` `rmsnorm(input, ...)` ``,
`` `sgl_kernel.utils.get_cuda_stream()` `` or a schema line). Where a page
quotes an op's schema, one quote must be the registered schema. Runs on CPU.
"""

import importlib
import importlib.util
import re
import types
import typing
from pathlib import Path

import torch

import sgl_kernel

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reference"
NAMESPACE = "sgl_kernel"

# Public submodules whose names the reference must cover, where they exist.
SUBMODULES = [
    "elementwise",
    "rope",
    "memory",
    "attention",
    "kvcacheio",
    "utils",
    "rotary_embedding",
    "testing.rotary_embedding",
    "moe",
    "version",
    "errors",
]

# Dunder names that are public API although they start with "_".
PUBLIC_DUNDERS = ["__version__"]

_SPAN = re.compile(r"`([^`\n]+)`")
_HEAD = re.compile(r"\s*(?:\*\*extension\*\*\s*)?([A-Za-z_][A-Za-z0-9_.]*)")
_SCHEMA = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\(.*\)\s*->\s*\S.*$")


def _pages():
    pages = {p.name: p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md"))}
    assert pages, f"no pages under {DOCS}"
    return pages


def _spans():
    return [s for text in _pages().values() for s in _SPAN.findall(text)]


def _documented_names():
    """Last component of the dotted name each code span starts with."""
    names = set()
    for span in _spans():
        m = _HEAD.match(span)
        if m:
            names.add(m.group(1).rstrip(".").split(".")[-1])
    return names


def registered_ops():
    """Op names of the sgl_kernel namespace, without overload names.

    Two registries are read, each where this torch has it: the dispatcher's
    op names (torch >= 2.1) and the schemas the JIT knows (every release), so
    an op is found whichever of them a torch version keeps.
    """
    prefix = NAMESPACE + "::"
    names = set()
    get_op_names = getattr(torch._C, "_dispatch_get_all_op_names", None)
    if get_op_names is not None:
        for full in get_op_names():
            if full.startswith(prefix):
                names.add(full[len(prefix):].split(".")[0])
    get_schemas = getattr(torch._C, "_jit_get_all_schemas", None)
    if get_schemas is not None:
        for schema in get_schemas():
            if schema.name.startswith(prefix):
                names.add(schema.name[len(prefix):])
    assert names, "found no op registered under torch.ops.sgl_kernel"
    return sorted(names)


def _registered_schemas(op):
    get = getattr(torch._C, "_jit_get_schemas_for_operator", None)
    if get is not None:
        return list(get(f"{NAMESPACE}::{op}"))
    packet = getattr(getattr(torch.ops, NAMESPACE), op)
    return [getattr(packet, overload)._schema for overload in packet.overloads()]


def _is_public_object(obj):
    if isinstance(obj, types.ModuleType):
        return False
    if isinstance(obj, typing.TypeVar):
        return False
    owner = getattr(obj, "__module__", None)
    # Names imported from torch, typing, dataclasses, functools, ... are not
    # ours; module-level data (no __module__) defined in the module is.
    return owner is None or not isinstance(owner, str) or owner.split(".")[0] == NAMESPACE


def public_names(module):
    if hasattr(module, "__all__"):
        names = list(module.__all__)
    else:
        names = [n for n, obj in vars(module).items() if not n.startswith("_") and _is_public_object(obj)]
    names += [n for n in PUBLIC_DUNDERS if n in vars(module) and n not in names]
    return sorted(set(names))


def existing_modules():
    """sgl_kernel and those of SUBMODULES that exist in this build."""
    found = {NAMESPACE: sgl_kernel}
    for name in SUBMODULES:
        full = f"{NAMESPACE}.{name}"
        if importlib.util.find_spec(full) is not None:
            found[full] = importlib.import_module(full)
    return found


def test_every_registered_op_is_documented():
    documented = _documented_names()
    missing = [op for op in registered_ops() if op not in documented]
    assert not missing, (
        f"ops of torch.ops.{NAMESPACE} named by no page of docs/reference/ (add `name` or its schema line): "
        f"{missing}"
    )


def test_every_public_name_is_documented():
    documented = _documented_names()
    missing = {}
    for module_name, module in existing_modules().items():
        gaps = [n for n in public_names(module) if n not in documented]
        if gaps:
            missing[module_name] = gaps
    assert not missing, f"public names named by no page of docs/reference/ (module: names): {missing}"


def test_quoted_schemas_match_the_registered_ones():
    quoted = {}
    for span in _spans():
        m = _SCHEMA.match(span)
        if m:
            quoted.setdefault(m.group(1), []).append(span.strip())
    wrong = {}
    for op in registered_ops():
        if op not in quoted:
            continue
        registered = _registered_schemas(op)
        parsed = []
        for text in quoted[op]:
            try:
                parsed.append(torch._C.parse_schema(f"{NAMESPACE}::{text}"))
            except RuntimeError:
                pass  # a Python signature that happens to look like a schema
        if parsed and not any(p == r for p in parsed for r in registered):
            wrong[op] = [str(r)[len(NAMESPACE) + 2:] for r in registered]
    assert not wrong, f"no quoted schema equals the registered one; registered (op: schemas): {wrong}"


def test_index_links_every_page():
    pages = _pages()
    assert "README.md" in pages, "docs/reference/README.md (the index) is missing"
    unlinked = [p for p in pages if p != "README.md" and f"({p}" not in pages["README.md"]]
    assert not unlinked, f"pages not linked from docs/reference/README.md: {unlinked}"
