"""Layer 6, impact analysis: who uses the data and what breaks without it."""

import json

KEY = "impactAnalysis"

#: the reference example in the instruction (docgen.grounding rejects copies of it)
EXAMPLE = {
    "usedBy": [
        {"team": "Marketing", "frequency": "daily", "purpose": "Choose which customers to contact"}
    ],
    "questionsAnswered": ["Which customers are at risk of leaving?"],
    "downstreamImpact": "Campaign lists would target the wrong customers.",
}

# Column descriptions (issue 19) ride on this call: the layer is not critical, so a failure
# here never costs the object its documentation.
INSTRUCTION = """\
Fill impactAnalysis only; set every other key to null.

Explain who relies on this data and what happens if it breaks:
- usedBy: 1 to 4 entries {team, frequency, purpose}. Base them on the downstream uses listed \
above and on what the data contains; name teams by function (Finance, Marketing, \
Operations, Customer Support, Leadership, Data Science). frequency is how often they would \
look at it (daily, weekly, monthly, on demand) as suggested by the data's grain.
- questionsAnswered: 2 to 5 business questions this data answers, as questions ending with "?".
- downstreamImpact: 1-2 sentences on what goes wrong, and for whom, if this data is wrong \
or late. Name the downstream data models listed above when there are any. No invented \
money amounts.
- columns: one entry {name, description} per output column of the data model (at most 40; \
the most important ones first), name exactly as the code outputs it, description one plain \
sentence on what the value means for the business and, for a calculated value, how it is \
worked out. Use null when the output columns cannot be told from the code.
Reference for shape only (do not copy): """ + json.dumps(EXAMPLE)
