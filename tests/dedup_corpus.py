"""Small hand-made corpora for the dedup tests, modelled on the edit families wire copy
goes through and on the traps that must stay apart (no shared evaluation data here)."""

from __future__ import annotations

import random

_PROSE = """the council approved a new budget for the harbour district after months of
debate over housing transport and schools residents had asked for more buses and a second
bridge while local businesses warned that higher fees would drive shoppers away the mayor
said the plan balanced those demands and promised that construction would begin next spring
opposition members criticised the timetable and called for an independent review of the
costs engineers estimate that the bridge alone will take three years to build and will carry
twenty thousand vehicles a day environmental groups raised concerns about the river habitat
and the nesting birds along the northern bank the regional government is expected to cover
part of the expense through a fund created last year for coastal infrastructure"""
_VOCABULARY = _PROSE.split()


def paragraph(rng: random.Random, sentences: int = 4) -> str:
    return " ".join(
        " ".join(rng.choice(_VOCABULARY) for _ in range(rng.randint(12, 20))).capitalize() + "."
        for _ in range(sentences))


def story(seed: int, paragraphs: int = 10) -> list[str]:
    """A story as paragraphs of plausible words (distinct for each seed)."""
    rng = random.Random(seed)
    return [paragraph(rng) for _ in range(paragraphs)]


def text(paragraphs: list[str]) -> str:
    return "\n\n".join(paragraphs)


def _copyedit(paragraphs: list[str]) -> list[str]:
    """A word changed every ~25 words, as sub-editors do."""
    rng = random.Random(99)
    words = text(paragraphs).split(" ")
    for i in range(0, len(words), 25):
        words[i + rng.randint(0, 20) if i + 21 < len(words) else i] = "indeed"
    return " ".join(words).split("\n\n")


EDIT_FAMILIES = {
    "boilerplate": lambda p: ["(c) 2024 Harbour Wire. All rights reserved.",
                              "Sign up for our daily newsletter to get the latest headlines.",
                              *p, "This article originally appeared on harbourwire.example."],
    "typography": lambda p: [x.replace(" a ", " a\u00a0").replace("the", "th\u200be", 3)
                             .replace("said", "&quot;said&quot;").replace(" and ", " \u2014 and ")
                             for x in p],
    "copyedit": _copyedit,
    "truncate": lambda p: p[:6],
    "para_split_merge": lambda p: [p[0] + " " + p[1], *p[2:5], *p[5].split(". ", 1), *p[6:]],
    "dateline_byline": lambda p: ["By Jane Example, Staff Writer",
                                  "HARBOURTON (Harbour Wire) - " + p[0], *p[1:]],
    "insert_links": lambda p: [x for pair in zip(p, [
        "Read more: Council elections set for autumn", "", "Lesen Sie auch: Neue Brücke geplant",
        "", "Related: Ferry timetable changes next week"] * 3, strict=False) for x in pair if x],
    "update": lambda p: [*p, "UPDATE: The council confirmed the vote count on Tuesday evening "
                         "and said the budget takes effect in January after a final review.",
                         story(777, 1)[0]],
    "spelling": lambda p: [x.replace("harbour", "harbor").replace("criticised", "criticized")
                           for x in p],
    "partial": lambda p: p[:3],
}


def earnings_brief(company: str, ceo: str, revenue: str, profit: str, quarter: str) -> str:
    """Automated earnings copy: the same template, different names and numbers."""
    return text([
        f"{company} reported revenue of {revenue} million dollars for the {quarter} quarter, "
        f"according to figures released on Thursday by the company.",
        f"Net profit came to {profit} million dollars, the company said in a statement, and "
        f"chief executive {ceo} said the results were in line with expectations.",
        f"Shares of {company} were little changed in early trading. Analysts had expected "
        f"revenue of about {revenue} million dollars for the period.",
        "This story was generated automatically from the company's earnings release.",
    ])


EARNINGS_TRAPS = [
    earnings_brief("Northwind Traders", "Ada Brook", "412", "38", "third"),
    earnings_brief("Contoso Mining", "Lee Varga", "1,207", "145", "second"),
    earnings_brief("Fabrikam Foods", "Omar Idris", "96", "4", "fourth"),
    earnings_brief("Tailspin Toys", "Ruth Okafor", "233", "19", "first"),
]

WEATHER_TRAPS = [text([
    f"Weather for {city} on {day}: {sky} skies with a high of {high} degrees and a low of "
    f"{low} degrees. Winds from the {wind} at {speed} kilometres per hour. The chance of rain "
    f"is {rain} percent. Sunrise is at {sunrise} and sunset at {sunset}."])
    for city, day, sky, high, low, wind, speed, rain, sunrise, sunset in [
        ("Harbourton", "Monday", "cloudy", 14, 6, "west", 20, 40, "6:58", "18:02"),
        ("Millbrook", "Tuesday", "sunny", 21, 11, "south", 10, 5, "6:41", "19:15"),
        ("Eastvale", "Monday", "rainy", 9, 4, "north", 35, 90, "7:12", "17:48"),
    ]]

_STANDARD_FOOTER = (
    "About the Harbour Gazette: the Harbour Gazette has reported on the harbour district "
    "since 1921 and is owned by its readers through a cooperative of more than ten thousand "
    "members. Our journalism is independent of any party, company or government and follows "
    "the code of practice of the regional press council. Complaints about our reporting can "
    "be sent to the readers' editor, who answers every message within five working days. "
    "Corrections are published on page two of the print edition and at the foot of the "
    "article online. To support local reporting, become a member of the cooperative or make "
    "a one-off contribution at the Gazette office on Quay Street.")

FOOTER_TRAPS = [text([body, _STANDARD_FOOTER]) for body in (
    "The swimming pool on Mill Lane reopens on Saturday after a six-month refurbishment that "
    "replaced the roof and the changing rooms.",
    "A lorry lost part of its load of timber on the coast road on Wednesday morning, closing "
    "one lane for three hours while crews cleared it.",
    "Pupils of the north school raised four thousand euros for the animal shelter with a "
    "sponsored walk around the lake on Sunday afternoon.",
)]
