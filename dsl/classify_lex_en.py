"""English cues for dsl/classify.py, beside the base lists of dsl/classify_lexicon.py: the ways people ask
for each task (imperatives, "how do I…" / "what is…" questions, the nouns of the output, format cues and the
material they point at), written from tests/data/CLASSIFY_GUIDE.md. Weights as in dsl/classify_lexicon.py."""
from __future__ import annotations

__all__ = ["PHRASES", "STEMS", "SUFFIXES", "WORDS"]

WORDS: dict[str, list[tuple[str, float]]] = {
    "code": [("big-o", 3), ("yml", 2), ("ci", 1), ("vim", 3), ("segmentation", 2), ("refactoring", 3),
             ("repository", 2), ("stderr", 3), ("stdout", 3), ("localhost", 2), ("env", 1), ("nullable", 3),
             ("runtime", 2), ("typeerror", 3), ("cannot", 0.5), ("compiles", 3), ("linting", 3), ("cors", 2),
             ("ssh", 2), ("goroutine", 3), ("goroutines", 3), ("pprof", 3), ("js", 2), ("docker", 2),
             ("comprehension", 2), ("leaks", 1), ("sudo", 2), ("chmod", 3), ("grep", 3), ("awk", 3), ("sed", 2), ("curl", 2)],
    "math": [("differentiate", 4), ("derivative", 3), ("integral", 3), ("integrate", 3), ("odds", 3),
             ("probability", 3), ("solve", 3), ("simplify", 2), ("factor", 1), ("factorise", 3), ("factorize", 3),
             ("hypotenuse", 3), ("quadratic", 3), ("polynomial", 3), ("matrix", 2), ("determinant", 3),
             ("eigenvalues", 3), ("theorem", 2), ("percentage", 2), ("percent", 2), ("average", 1), ("sum", 1),
             ("grams", 1), ("kilograms", 1), ("liters", 1), ("litres", 1), ("meters", 1), ("metres", 1),
             ("miles", 1), ("days", 1), ("weeks", 1), ("feet", 1), ("inches", 1), ("calculus", 1.5), ("slope", 3)],
    "creative": [("roleplay", 4), ("role-play", 4), ("limericks", 5), ("haikus", 5), ("poetry", 4),
                 ("screenplay", 5), ("sketch", 1), ("funny", 1), ("draft", 1.5), ("storyline", 4), ("essay", 1.5),
                 ("slogans", 5), ("taglines", 5), ("jingle", 5), ("mascot", 2)],
    "summarization": [("boil", 3), ("takeaway", 4), ("summarized", 5), ("summarised", 5), ("resume", 1.5),
                      ("cliffnotes", 5), ("recapitulate", 5)],
    "translation": [("mandarin", 1.5), ("cantonese", 1.5), ("greek", 1), ("hebrew", 1), ("latin", 1),
                    ("vietnamese", 1), ("thai", 1), ("ukrainian", 1), ("italian", 1.5), ("german", 1.5),
                    ("french", 1.5), ("spanish", 1.5), ("japanese", 1.5), ("portuguese", 1.5), ("korean", 1.5),
                    ("russian", 1.5), ("chinese", 1.5)],
    "extraction": [("attendees", 1.5), ("ids", 1.5), ("amounts", 1.5), ("5xx", 2), ("4xx", 2), ("every", 1.5),
                   ("each", 0.5), ("occur", 2), ("occurs", 2), ("extracted", 5), ("tabulate", 3)],
    "chat": [("proofread", 5), ("proofreading", 5), ("grammar", 3), ("rephrase", 4), ("reword", 4),
             ("friendlier", 3), ("politer", 3), ("tone", 2), ("itinerary", 3), ("trip", 2), ("recipe", 2),
             ("career", 2), ("learn", 1.5), ("learning", 1.5), ("worth", 1.5), ("buy", 1.5), ("budget", 1),
             ("vacation", 2), ("holiday", 1.5), ("thx", 2), ("cheers", 1.5), ("howdy", 2), ("weather", 1)],
}

STEMS: dict[str, list[tuple[str, float]]] = {
    "math": [("differenti", 3), ("multipl", 1)],
    "extraction": [("enumerat", 2)],
}

SUFFIXES: dict[str, list[tuple[str, float]]] = {}

PHRASES: dict[str, list[tuple[str, float]]] = {
    "code": [("time complexity", 4), ("big o", 3), ("what's wrong with this", 2), ("why does this", 2),
             ("why am i getting", 3), ("port this to", 5), ("rewrite this in", 3), ("convert this to", 3),
             ("github actions", 4), ("how do i quit", 2), ("how to exit", 2), ("this code", 3), ("my code", 3),
             ("the code", 2), ("this function", 3), ("my function", 3), ("this script", 3), ("this query", 3),
             ("error message", 2), ("css property", 4), ("keyboard shortcut", 3), ("command to", 3),
             ("cannot read properties", 4), ("is not defined", 3), ("doesn't compile", 4), ("in go", 3), ("list comprehension", 4),
             ("this loop", 2), ("database schema", 3), ("memory leak", 3), ("api rest", 2), ("rest api", 3)],
    "math": [("how many", 2), ("how much is", 2), ("how much", 2), ("decimal places", 3), ("find the", 1), ("what's the value", 3), ("show that", 4), ("prove that", 5),
             ("catch up", 1.5), ("compound interest", 4), ("compounded monthly", 4), ("expected value", 4),
             ("sum of", 1.5), ("average of", 2), ("% tip", 3), ("in a row", 1), ("standard deck", 3),
             ("what fraction", 3), ("what percentage", 3), ("how long will it take", 2), ("how far", 1.5)],
    "creative": [("name ideas", 4), ("ideas for a name", 4), ("names for", 3), ("let's roleplay", 4),
                 ("pretend you're", 3), ("pretend to be", 3), ("you're a", 1), ("write an essay", 4),
                 ("an essay on", 3), ("an essay about", 3), ("write me a", 1.5), ("write a", 1.5), ("draft a", 1),
                 ("a poem", 4), ("birthday message", 4), ("wedding toast", 4), ("greeting card", 4),
                 ("product description", 4), ("marketing copy", 4), ("bedtime story", 5), ("short story", 4)],
    "summarization": [("boil this down", 5), ("boil it down", 5), ("write an abstract", 5), ("an abstract for", 5),
                      ("key takeaways", 6), ("key points", 4), ("in a few sentences", 3), ("in two sentences", 3),
                      ("in one sentence", 3), ("in three sentences", 3), ("in a sentence", 2),
                      ("in three bullets", 3), ("what's it about", 3), ("what is this about", 3),
                      ("what did we decide", 3), ("what was decided", 3), ("what did they decide", 3),
                      ("executive summary", 6), ("cliff notes", 5), ("cliffs notes", 5), ("main takeaways", 6),
                      ("the gist", 4), ("give me the gist", 5), ("too long", 2), ("short summary", 6)],
    "translation": [("translate this", 6), ("translate to", 6), ("what's the word for", 3),
                    ("how do you spell", 0), ("in plain english", -1)],
    "extraction": [("in this log", 3), ("from this log", 3), ("in the log", 2.5), ("from the log", 2.5),
                   ("in these logs", 3), ("in this email", 2), ("from this email", 2.5), ("out of this email", 3),
                   ("out of this", 2), ("from this resume", 2.5), ("from this cv", 2.5), ("in this thread", 2),
                   ("from this invoice", 2.5), ("from this document", 2.5), ("in this document", 2),
                   ("from this page", 2), ("from this table", 2), ("email addresses", 2), ("email address", 2),
                   ("phone numbers", 2), ("request ids", 2), ("ip addresses", 2), ("as a table", 2),
                   ("a table of", 2), ("into a table", 2), ("into json", 2), ("as csv", 2), ("in csv", 2),
                   ("give me a table", 3), ("fill the schema", 5), ("fill in the", 1.5), ("fill this", 2),
                   ("schema from", 3), ("error codes", 2), ("status codes", 1), ("get me every", 3),
                   ("get me all", 3), ("list all", 3), ("list every", 4), ("list each", 3), ("all the names", 3),
                   ("returned a", 1), ("mentioned in", 2), ("that appear", 2), ("action items", 2), ("in these notes", 2), ("which appear", 2)],
    "chat": [("fix the grammar", 4), ("rewrite this so", 3), ("sound friendlier", 4), ("sounds friendlier", 4),
             ("more polite", 3), ("more professional", 3), ("sound more", 3), ("who was", 2), ("who is", 2),
             ("plan a", 2), ("should i", 2), ("worth it", 2), ("hard to learn", 4), ("is it hard", 3),
             ("how's it going", 3), ("how's your day", 3), ("what's up", 2), ("that worked", 3), ("thank you", 2),
             ("good night", 0), ("what do you recommend", 3), ("any tips", 3), ("is it worth", 3), ("should i learn", 3), ("learn first", 2)],
}
