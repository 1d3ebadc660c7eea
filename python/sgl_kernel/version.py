"""The version of sgl_kernel.

A PEP 440 version ``<upstream API level>+sglk.<ours>``: the public part is
the upstream sgl-kernel release whose API this package implements, so that a
serving engine's minimum-version check (e.g. ``sgl-kernel >= 0.3.12``) passes
exactly when our API covers that release; the local part counts our own
releases. pyproject.toml reads the version from this file.
"""

__version__ = "0.3.21+sglk.0.2.0"
