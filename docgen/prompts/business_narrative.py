"""Layer 2, business narrative: the story for business analysts."""

import json

KEY = "businessNarrative"

#: the reference example in the instruction (docgen.grounding rejects copies of it)
EXAMPLE = {
    "whatItDoes": "Combines orders and payments into one row per order with the amount "
    "actually paid.",
    "dataJourney": [
        "Start from every order placed in the shop",
        "Add the payments made for each order",
        "Keep the order's final status",
    ],
    "businessImpact": "Revenue reports read this table, so an error here shows up in every "
    "revenue figure.",
}

INSTRUCTION = """\
Fill businessNarrative only; set every other key to null.

Tell the story of this data for a business analyst:
- whatItDoes: 2-3 sentences on what the data model produces and for what purpose.
- dataJourney: 3-6 short steps, in order, from where the data comes from to what comes out. \
Each step is one plain sentence that names the business meaning of the step ("Keep only \
orders that were paid and not refunded"), not the code.
- businessImpact: 1-2 sentences on which decisions depend on it and what goes wrong for the \
business if it is late or wrong.
Reference for shape only (do not copy): """ + json.dumps(EXAMPLE)
