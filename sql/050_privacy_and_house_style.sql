-- Per-organization privacy and house style (issue 19).
-- Privacy: when on, literals that look like personal data (and string literals longer than
-- privacy_max_literal characters) are masked in the code sent to the LLM; each layer's log
-- row records what was masked, by kind ({"email": 2, "card": 1}), never the values.
ALTER TABLE enterprise.organization_llm_settings
ADD COLUMN privacy_masking boolean NOT NULL DEFAULT FALSE,
ADD COLUMN privacy_max_literal integer NOT NULL DEFAULT 64
CHECK (privacy_max_literal BETWEEN 8 AND 100000);

ALTER TABLE metadata.documentation_generation_logs
ADD COLUMN privacy_masked jsonb CHECK (
    privacy_masked IS NULL OR jsonb_typeof(privacy_masked) = 'object'
);

-- House style: extra instructions, a glossary of business terms and banned words, all part
-- of the prompt (and so of each version's input hash).
CREATE TABLE enterprise.organization_style (
    organization_id uuid PRIMARY KEY
        REFERENCES enterprise.organizations (id) ON DELETE CASCADE,
    instructions text NOT NULL DEFAULT '' CHECK (length(instructions) <= 4000),
    -- [{"term": "...", "meaning": "...", "synonyms": ["..."]}]
    glossary jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(glossary) = 'array'),
    banned_words text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);
