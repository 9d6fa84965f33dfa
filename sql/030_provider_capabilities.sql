-- What docgen learned about an organization's endpoint, and how to treat it.
--
-- structured_outputs_refused: why docgen switched the organization to json_object on its
--   own (the endpoint refused response_format json_schema); NULL when it never did.
-- max_concurrent_requests: requests docgen sends to the endpoint at the same time
--   (1 for a local server with one slot); NULL: no limit beyond the job's concurrency.
-- input/output_price_per_million: USD per 1M tokens for this organization's model,
--   overriding the built-in pricing table (0 for a local model).
-- documentation_generation_logs.grounding: the grounding check's result for the layer
--   (items removed, names not found in the code, retried or not).

ALTER TABLE enterprise.organization_llm_settings
ADD COLUMN structured_outputs_refused text,
ADD COLUMN max_concurrent_requests integer
CHECK (max_concurrent_requests > 0),
ADD COLUMN input_price_per_million numeric(12, 4)
CHECK (input_price_per_million >= 0),
ADD COLUMN output_price_per_million numeric(12, 4)
CHECK (output_price_per_million >= 0);

ALTER TABLE metadata.documentation_generation_logs
ADD COLUMN grounding jsonb;
