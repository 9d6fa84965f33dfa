"""Layer 5, business rules: 2-5 rules the code enforces."""

import json

KEY = "businessRules"

#: the reference example in the instruction (docgen.grounding rejects copies of it)
EXAMPLE = {
    "rule": "<the policy, in business words>",
    "codeReference": "<the condition that applies it, copied exactly from the code above>",
    "impact": "<what it changes in the numbers people see>",
}

INSTRUCTION = """\
Fill businessRules only; set every other key to null.

List the 2 to 5 business rules this code enforces: decisions someone in the business made \
that the code now applies (what counts, what is excluded, how ties, duplicates, currencies, \
dates or missing values are handled, how categories are defined).
For each rule:
- rule: the rule stated as a business policy ("Only paid orders count as revenue").
- codeReference: the fragment of code that implements it, copied as written, at most 2 lines.
- impact: what this rule changes in the numbers people see, in one sentence.
Shape only, in your own words (do not copy): """ + json.dumps(EXAMPLE)
