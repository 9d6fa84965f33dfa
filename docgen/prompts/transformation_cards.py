"""Layer 3, transformation cards: 3-7 visual step-by-step cards."""

import json

KEY = "transformationCards"

#: the reference example in the instruction (docgen.grounding rejects copies of it)
EXAMPLE = {
    "stepNumber": 1,
    "title": "Filter Active Customers",
    "input": "All customers",
    "logic": "Keep customers whose last order is less than 90 days old",
    "output": "Recently active customers",
    "whyItMatters": "Campaigns focus on people who still buy",
}

INSTRUCTION = """\
Fill transformationCards only; set every other key to null.

Describe how the data is transformed as 3 to 7 cards, one per meaningful step, in the order \
the code performs them (named steps in the code are good boundaries; merge trivial ones, \
split a step that does two unrelated things). Number them from 1 (stepNumber).
For each card:
- title: 2-5 words naming the step ("Filter Active Customers").
- input: what comes into the step, in business words ("All customers").
- logic: the rule applied, in plain words; a short code fragment is allowed only if it is \
clearer ("last order within 90 days").
- output: what comes out ("Customers who ordered in the last 90 days"). No invented counts.
- whyItMatters: the business reason for the step.
Reference for shape only (do not copy): """ + json.dumps(EXAMPLE)
