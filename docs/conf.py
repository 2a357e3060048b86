"""Sphinx configuration of the cnnjax documentation: MyST Markdown pages and an API reference by autodoc
(Google-style docstrings through napoleon). Build it offline with `bash scripts/docs.sh` (warnings are errors)."""

import re
from importlib.metadata import version as _version

project = "cnnjax"
author = "the cnnjax authors"
copyright = "the cnnjax authors, Apache License 2.0"
release = _version("cnnjax")
version = ".".join(release.split(".")[:2])

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "figures/**/index.html"]

# MyST: anchors for headings down to ###, so that a page can link to a section (`page.md#a-heading`).
myst_heading_anchors = 3

# autodoc: the members a package exports (its __all__), in source order; type hints in the description, where long
# jax types stay readable. Docstrings write code in single backticks, as Markdown does.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
default_role = "literal"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields of the class, not a second description of each attribute

html_theme = "alabaster"
html_title = f"cnnjax {release}"
html_theme_options = {"description": "Convolutional networks in JAX"}

# cnnjax's docstrings are plain text: shapes such as (N, *spatial, C), alternatives such as 'SAME' | 'VALID', and
# names such as validation_* and indented examples after a paragraph. `plain_docstring` makes reStructuredText read
# them so: `*`, `|` and a word's trailing `_` outside backticks are escaped, and an indented block after a blank line
# is a literal block. It runs before napoleon.
_SECTION = re.compile(r"\s*(Args|Arguments|Attributes|Example|Examples|Note|Notes|Raises|Returns|Yields|Warning):\s*$")
_MARKUP = re.compile(r"(``.+?``|`[^`]*`)|([*|]|(?<=\w)_(?!\w))")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def plain_docstring(app, what, name, obj, options, lines: list[str]) -> None:
    """autodoc-process-docstring: rewrites `lines` (one docstring) in place, as the comment above says."""
    out: list[str] = []
    block = None  # the indentation of the literal block being copied, or None
    for i, line in enumerate(lines):
        if block is not None:
            if not line.strip() or _indent(line) >= block:
                out.append(line)
                continue
            block = None
            if out[-1].strip():
                out.append("")
        last = max((j for j, text in enumerate(out) if text.strip()), default=None)
        if (
            last is not None
            and line.strip()
            and not lines[i - 1].strip()
            and _indent(line) > _indent(out[last])
            and not _SECTION.match(out[last])
        ):
            block = _indent(line)
            # "text::" reads as "text:" and "text ::" as "text", each followed by a literal block.
            if not out[last].endswith("::"):
                out[last] += ":" if out[last].endswith(":") else " ::"
            out.append(line)
            continue
        out.append(_MARKUP.sub(lambda m: m.group(1) or "\\" + m.group(2), line))
    lines[:] = out


def setup(app) -> None:
    app.connect("autodoc-process-docstring", plain_docstring, priority=100)
