"""The library's argument errors.

Upstream's ops raised ``RuntimeError`` for every bad argument; ours name the
argument and raise ``TypeError`` (dtype) or ``ValueError`` (shape, stride,
value). So that code written against upstream (``except RuntimeError``)
still catches them, the Python functions of the package raise the classes
below, which derive from both.

The torch ops themselves (``torch.ops.sgl_kernel.*``) raise plain
``ValueError`` for every bad argument: they are built on PyTorch's stable ABI,
whose C++ errors reach Python as ``ValueError`` (``std::invalid_argument``) or
``RuntimeError`` and never as ``TypeError``; a dtype error's message starts with
``"TypeError: "``. Call the Python functions (as upstream's users do) to get
the dual classes, with that prefix removed.
"""

import functools

__all__ = ["SglKernelError", "SglKernelTypeError", "SglKernelValueError", "translate_errors"]


class SglKernelError(RuntimeError):
    """Base of the library's argument errors (a ``RuntimeError``, as upstream raised)."""


class SglKernelValueError(ValueError, SglKernelError):
    """A bad shape, stride, value or index: both a ``ValueError`` and a ``RuntimeError``."""


class SglKernelTypeError(TypeError, SglKernelError):
    """A bad dtype or argument type: both a ``TypeError`` and a ``RuntimeError``."""


_TYPE_TAG = "TypeError: "


def _dual(e: Exception) -> Exception:
    args = e.args
    if isinstance(e, TypeError):
        cls = SglKernelTypeError
    elif args and isinstance(args[0], str) and args[0].startswith(_TYPE_TAG):
        # A dtype error from an op (see the module docstring).
        cls, args = SglKernelTypeError, (args[0][len(_TYPE_TAG):],) + tuple(args[1:])
    else:
        cls = SglKernelValueError
    dual = cls(*args)
    dual.__traceback__ = e.__traceback__
    return dual


def translate_errors(fn):
    """Decorator for the public functions: a ``ValueError`` / ``TypeError``
    raised inside (by the wrapper's own checks or by an op) leaves as
    :class:`SglKernelValueError` / :class:`SglKernelTypeError`, same message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SglKernelError:
            raise
        except (ValueError, TypeError) as e:
            raise _dual(e) from None

    return wrapper
