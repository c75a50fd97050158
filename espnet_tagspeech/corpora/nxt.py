"""A small reader for NXT (NITE XML Toolkit) stand-off files, keeping line numbers.

AMI's manual annotations are NXT files: one XML file per meeting, agent and
layer (``ES2002a.A.words.xml``), whose root's children are the annotation
elements (``<w>``, ``<vocalsound>``, ``<segment>``...), each with a
``nite:id``.  Other layers point at them with ``<nite:child
href="ES2002a.A.words.xml#id(ES2002a.A.words0)..id(ES2002a.A.words4)"/>``,
a range in document order.

The reader uses expat directly so that every element knows the line it starts
on, which goes into error messages together with its id.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union
from xml.parsers import expat

from espnet_tagspeech.data.errors import DataFormatError

PathLike = Union[str, Path]
_HREF_RE = re.compile(r"^(?P<file>[^#]*)#id\((?P<first>[^()]+)\)(?:\.\.id\((?P<last>[^()]+)\))?$")


@dataclass
class Element:
    """One XML element: tag, attributes, text, start line and children."""

    tag: str
    attrs: Dict[str, str]
    line: int
    text: str = ""
    children: List["Element"] = field(default_factory=list)

    @property
    def id(self) -> Optional[str]:
        """The element's ``nite:id`` (any namespace prefix), or ``None``."""
        for key, value in self.attrs.items():
            if key == "id" or key.endswith(":id"):
                return value
        return None

    @property
    def local_tag(self) -> str:
        """The tag without a namespace prefix (``nite:child`` -> ``child``)."""
        return self.tag.rsplit(":", 1)[-1]

    def where(self) -> str:
        """How to name the element in a message: its id, else its tag."""
        return f"element {self.id}" if self.id else f"<{self.tag}>"


def parse_xml(data: bytes, path: str = "<string>") -> Element:
    """Parse XML bytes into an :class:`Element` tree (encoding from the XML declaration).

    Raises:
        DataFormatError: on malformed XML, with expat's line and reason.
    """
    parser = expat.ParserCreate()
    stack: List[Element] = []
    root: List[Element] = []

    def start(tag: str, attrs: Dict[str, str]) -> None:
        el = Element(tag, dict(attrs), parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(el)
        else:
            root.append(el)
        stack.append(el)

    def end(tag: str) -> None:
        stack.pop()

    def chars(text: str) -> None:
        if stack:
            stack[-1].text += text

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        raise DataFormatError(path, e.lineno, f"malformed XML: {expat.ErrorString(e.code)}") from None
    if not root:
        raise DataFormatError(path, None, "no XML root element")
    return root[0]


def read_xml(path: PathLike) -> Element:
    """Read and parse an XML file (see :func:`parse_xml`)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DataFormatError(str(path), None, "no such file") from None
    return parse_xml(data, str(path))


def attr_float(el: Element, name: str, path: str, required: bool = True) -> Optional[float]:
    """A numeric attribute of an element.

    Returns:
        The number, or ``None`` when absent and not ``required``.

    Raises:
        DataFormatError: when missing (and required), not a number, or negative.
    """
    raw = el.attrs.get(name)
    if raw is None:
        if required:
            raise DataFormatError(path, el.line, f"{el.where()}: no {name} attribute")
        return None
    try:
        value = float(raw)
    except ValueError:
        raise DataFormatError(path, el.line, f"{el.where()}: {name} is not a number: {raw!r}") from None
    if not (value >= 0.0 and value != float("inf")):
        raise DataFormatError(path, el.line, f"{el.where()}: bad {name} {raw!r}")
    return value


def parse_href(href: str, path: str = "<string>", line: Optional[int] = None) -> Tuple[str, str, str]:
    """Split an NXT child reference into ``(file, first id, last id)``.

    ``"X.words.xml#id(a)"`` gives ``("X.words.xml", "a", "a")``.

    Raises:
        DataFormatError: when ``href`` is not of that form.
    """
    m = _HREF_RE.match(href.strip())
    if not m:
        raise DataFormatError(path, line, f"cannot read NXT reference {href!r}")
    first = m.group("first")
    return m.group("file"), first, m.group("last") or first
