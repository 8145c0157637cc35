"""Per-site boilerplate is learned from the feed's latest articles as extracted: the lines
already removed from the stored texts still count, so a learned plea is not forgotten."""

from __future__ import annotations

from extract_helpers import article_rows, stored_article
from newspipe import pipeline
from newspipe.extract.cleanup import learn_boilerplate, remove_boilerplate

PLEA = "Support independent journalism: subscribe today for just one euro a week."
TOPICS = ["harbour", "railway", "school", "hospital", "library", "bridge", "market"]


def story_page(number: int) -> bytes:
    """A page of one site: its own story (no line of it recurs elsewhere) and the plea."""
    topic = TOPICS[number % len(TOPICS)]
    paragraphs = [
        f"The council approved plan number {number} for the {topic} on Tuesday, after a "
        f"debate that lasted {number % 9 + 2} hours and divided the governing coalition.",
        f"Residents of district {number} had asked for the {topic} works for years, and the "
        f"mayor promised that the first phase would be finished within {number % 5 + 1} years.",
        f"Opponents said plan {number} would cost the city far more than the estimate of "
        f"{number * 3 + 10} million, and they asked for an independent review of its budget.",
    ]
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    return (f"<html><head><title>Plan {number} approved</title></head><body><article>"
            f"<h1>Plan {number} approved</h1>{body}<p>{PLEA}</p></article></body></html>"
            ).encode()


def extract_round(store, numbers: range) -> list[str]:
    """Store the articles as the fetch stage leaves them, extract them in one run (its own
    pool and learning, as each Airflow extract task has) and return their texts."""
    ids = [stored_article(store, f"plan-{n}", story_page(n)) for n in numbers]
    pipeline.extract_articles(store, ids, jobs=1)
    rows = article_rows(store)
    return [rows[article_id].text for article_id in ids]


def test_removed_lines_are_returned_for_learning():
    learned = learn_boilerplate([f"Story {i} of its own.\n{PLEA}" for i in range(10)])
    text, removed = remove_boilerplate(f"A new story.\n{PLEA}", learned)
    assert text == "A new story."
    assert learn_boilerplate([f"Story {i}.\n" + "\n".join(removed) for i in range(10)]) == \
        learned


def test_a_learned_plea_is_not_forgotten_once_the_recent_texts_have_lost_it(store):
    first = extract_round(store, range(10))  # nothing learned yet: the plea stays
    assert all(PLEA in text for text in first)
    second = extract_round(store, range(10, 70))  # learned from the first ten
    assert not any(PLEA in text for text in second)
    # The feed's last 70 stored texts: 10 with the plea, 60 that lost it. Counted as
    # extracted, the plea is in all 70 and is still learned.
    third = extract_round(store, range(70, 100))
    assert not any(PLEA in text for text in third)
    assert all("council approved plan" in text for text in third)
