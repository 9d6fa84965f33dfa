-- Review of documentation versions (issue 19): a version is a draft until someone approves
-- or rejects it; a layer a person edited or approved is never replaced silently. When the
-- current version holds such a layer, a regeneration is stored beside it as a proposal
-- (not current) and waits for review.
ALTER TABLE metadata.object_documentation
ADD COLUMN review_state text NOT NULL DEFAULT 'draft'
CHECK (review_state IN ('draft', 'approved', 'rejected', 'proposed', 'superseded')),
-- who reviewed the version (an email or login name) and when; the reason of a rejection
ADD COLUMN reviewed_by text,
ADD COLUMN reviewed_at timestamptz,
ADD COLUMN review_reason text,
-- reviews of single layers: {"business_rules": {"state": "approved", "by": ..., "at": ...}}
ADD COLUMN layer_reviews jsonb NOT NULL DEFAULT '{}'
CHECK (jsonb_typeof(layer_reviews) = 'object'),
-- the layers a person wrote in this version (docgen docs edit)
ADD COLUMN edited_layers text[] NOT NULL DEFAULT '{}',
-- for a proposal: the version that was current when it was made
ADD COLUMN proposed_for integer,
-- the code the version was made from, so a diff can show what changed in the code since
ADD COLUMN source_code text,
ADD CONSTRAINT object_documentation_rejected_reason CHECK (
    review_state <> 'rejected' OR review_reason IS NOT NULL
),
ADD CONSTRAINT object_documentation_proposal_not_current CHECK (
    NOT (is_current AND review_state IN ('proposed', 'superseded'))
);

CREATE INDEX object_documentation_proposed_idx
ON metadata.object_documentation (organization_id, object_id)
WHERE review_state = 'proposed';
