"""Layer 1, executive summary: plain text, 2-3 sentences, a ten-second read."""

import json

KEY = "executiveSummary"

#: the reference example in the instruction (docgen.grounding rejects copies of it)
EXAMPLE = (
    "Lists every customer with the date of their first and latest order and their total "
    "spend. Marketing uses it to choose who to contact, and finance to track customer "
    "lifetime value."
)

INSTRUCTION = (
    """\
Fill executiveSummary only; set every other key to null.

Write the executive summary: 2-3 sentences, at most 80 words, that an executive understands \
in ten seconds.
- Sentence 1: what this data calculates or lists, in business terms.
- Sentence 2: why it matters: the decision, report or process it supports.
- Sentence 3 (optional): who relies on it, based on the downstream uses listed above.
Reference for tone only (do not copy): """
    + json.dumps(EXAMPLE)
    + "\nPlain text: no markdown, no list, no quotation marks around the text."
)
