"""Layer 5, business rules: 2-5 rules the code enforces."""

KEY = "businessRules"

INSTRUCTION = """\
Fill businessRules only; set every other key to null.

List the 2 to 5 business rules this code enforces: decisions someone in the business made \
that the code now applies (what counts, what is excluded, how ties, duplicates, currencies, \
dates or missing values are handled, how categories are defined).
For each rule:
- rule: the rule stated as a business policy ("Only paid orders count as revenue").
- codeReference: the fragment of code that implements it, copied as written, at most 2 lines.
- impact: what this rule changes in the numbers people see, in one sentence.
Reference for shape only (do not copy): {"rule": "Refunded orders are not revenue", \
"codeReference": "where refund_amount = 0", "impact": "Revenue figures are net of refunds."}"""
