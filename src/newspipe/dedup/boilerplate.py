"""Syndication boilerplate: lines outlets add around wire copy (credits, "read more",
newsletter and advertising lines, copyright and "originally appeared" notes). They are
dropped before shingling so that they neither hide a copy nor join two distinct stories.

Lines arrive normalised (case folded, quotes and dashes unified: see normalize.py)."""

from __future__ import annotations

import re

# A line this short carries no story ("ANZEIGE", "(AFP)", a date, a byline); dropping it
# also mends the shingles that span it.
MIN_LINE_WORDS = 4
# Boilerplate lines are short; a longer line is story (and skipping the patterns on it
# keeps them off the hot path).
MAX_BOILERPLATE_CHARS = 300

# Lines that open with these: copyright notes, wire credits, links to other articles,
# newsletters, apps, social media, advertising.
_OPENINGS = [
    r"\(?(©|\(c\)|copyright\b)", r"(reporting|writing|editing|additional reporting) by ",
    r"(source|quelle|fuente|źródło): ",
    r"(read more|read also|related|see also|more:|lesen sie (auch|mehr)|auch interessant|"
    r"weiterlesen|mehr zum thema|leer más|lee también|lea también|czytaj (też|także|więcej)|"
    r"lire aussi|à lire aussi|leia (também|mais)|>>|\+\+\+)",
    r"(sign up|subscribe|abonnieren|jetzt abonnieren)", r"follow us\b", r"folgen sie uns",
    r"(advertisement|anzeige|werbung)\b",
]
# Lines that contain these anywhere.
_ANYWHERE = [
    r"all rights reserved", r"alle rechte vorbehalten", r"todos los derechos reservados",
    r"tous droits réservés", r"wszelkie prawa zastrzeżone", r"mit material (der|von) ",
    r"contributed to (this|the) report", r"trust principles",
    r"(originally|first) (appeared|published)", r"(erschien|erschienen) (zuerst|ursprünglich)",
    r"newsletter", r"click here", r"delivered to your inbox",
    r"(story|article) continues (below|after)", r"weiterlesen nach der anzeige",
]
# Two expressions, one tried at the line's start only: half the time of one expression
# whose every alternative is tried at every position.
_OPENING = re.compile("|".join(f"(?:{p})" for p in _OPENINGS))
_CONTAINED = re.compile("|".join(f"(?:{p})" for p in _ANYWHERE))
# "WASHINGTON (Reuters) - " opening the first paragraph: the credit, not the story.
_DATELINE = re.compile(r"^[^()]{0,40}\([\w ./&-]{2,25}\)\s*-{1,2}\s*")


def is_boilerplate(line: str) -> bool:
    if len(line) > MAX_BOILERPLATE_CHARS:
        return False
    return (len(line.split()) < MIN_LINE_WORDS or _OPENING.match(line) is not None
            or _CONTAINED.search(line) is not None)


def strip_dateline(line: str) -> str:
    return _DATELINE.sub("", line, count=1)


def remove_boilerplate(lines: list[str]) -> list[str]:
    """The story's own lines; when everything looks like boilerplate (a very short
    text), the text is kept whole rather than emptied."""
    kept = [line for line in lines if not is_boilerplate(line)] or lines
    return [strip_dateline(kept[0]), *kept[1:]] if kept else []
