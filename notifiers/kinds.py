"""The kinds of notice there are, and the names people read for them (提醒函, 督办函 …), from the
templates: a kind is a template ``kinds/NAME.j2``, its name the ``label`` it sets."""

from __future__ import annotations

from pathlib import Path

import jinja2
from jinja2 import nodes

from duban.notifiers.render import PACKAGE_TEMPLATES


def known(own: Path | None = None) -> set[str]:
    """Every kind a template exists for, the admin's folder and duban's own."""
    folders = [folder / "kinds" for folder in (own, PACKAGE_TEMPLATES) if folder]
    return {path.stem for folder in folders if folder.is_dir() for path in folder.glob("*.j2")}


def labels(own: Path | None, kinds: set[str]) -> dict[str, str]:
    """Each kind's ``label`` as its template sets it (``{% set label = "提醒函" %}``), read
    without rendering; the parts written out when it is built from values (预警通知); the
    kind itself when there is no template."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(
        [str(folder) for folder in (own, PACKAGE_TEMPLATES) if folder]))
    found = {}
    for kind in kinds:
        try:
            source, _, _ = env.loader.get_source(env, f"kinds/{kind}.j2")  # type: ignore[union-attr]
            tree = env.parse(source)
        except jinja2.TemplateError:
            found[kind] = kind
            continue
        assigned = [node.node for node in tree.find_all(nodes.Assign)
                    if isinstance(node.target, nodes.Name) and node.target.name == "label"]
        consts = [value if isinstance(value, nodes.Const) else None for value in assigned[:1]]
        if assigned and consts[0] is None:
            consts = list(assigned[0].find_all(nodes.Const))
        words = [const.value for const in consts if const and isinstance(const.value, str)]
        found[kind] = "".join(words) or kind
    return found


def kind_named(own: Path | None, text: str) -> str:
    """The kind ``text`` names: the kind itself (urging) or its label (督办函); an unknown one
    is refused with the kinds there are."""
    from duban.engine.errors import InvalidInput
    from duban.engine.validation import shown

    wanted = text.strip()
    every = known(own)
    if wanted in every:
        return wanted
    named = labels(own, every)
    matches = sorted(kind for kind, label in named.items() if label == wanted)
    if len(matches) == 1:
        return matches[0]
    listed = "、".join(f"{named[kind]}({kind})" for kind in sorted(every))
    if matches:
        raise InvalidInput(f"“{shown(wanted)}”是几类通知的名称, 请写代码: {listed}")
    raise InvalidInput(f"没有通知类型“{shown(wanted)}”; 可选: {listed}")
