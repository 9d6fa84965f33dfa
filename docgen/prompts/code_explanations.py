"""Layer 4, code explanations: 3-6 pieces of code beside their plain-English meaning."""

import json

KEY = "codeExplanations"

#: the reference example in the instruction (docgen.grounding rejects copies of it)
EXAMPLE = {
    "codeBlock": "<1 to 3 lines copied exactly from the code above>",
    "plainEnglish": "<what those lines do, in one plain sentence>",
    "businessContext": "<why the business needs it, in one sentence>",
}

INSTRUCTION = """\
Fill codeExplanations only; set every other key to null.

Pick the 3 to 6 pieces of the code that matter most to the business meaning (filters, \
conditions, calculations, the way tables are combined, deduplication, time windows) and \
explain each:
- codeBlock: the exact fragment from the code, at most 3 lines, copied as written (no code \
fences, no reformatting).
- plainEnglish: what it does, in one plain sentence a non-technical reader understands.
- businessContext: why the business needs it, in one sentence.
Shape only, in your own words (do not copy): """ + json.dumps(EXAMPLE)
