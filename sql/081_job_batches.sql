-- Batch mode (issue 18): a job's layer requests sent as one OpenAI Batch API batch.
-- One row per job and its current wave (objects whose upstream objects in the job are
-- documented; a wave's batch is 'done' once its objects are, and the next wave reuses the
-- row). Claimed ('submitting') before the upload, so a run that crashes after
-- submitting finds the row and reattaches (by batch_id, or by the job id in the batch's
-- metadata when the crash came before batch_id was written) instead of submitting again.
-- digests: custom_id ("OBJECT_ID:layer") -> digest of the request body that was submitted;
-- an answer is used only for the same prompt.
CREATE TABLE metadata.job_batches (
    job_id uuid PRIMARY KEY
        REFERENCES metadata.documentation_jobs (id) ON DELETE CASCADE,
    phase text NOT NULL DEFAULT 'submitting' CHECK (
        phase IN (
            'submitting', 'waiting_for_batch', 'answered', 'done', 'cancelled', 'failed'
        )
    ),
    batch_id text,
    provider_status text,
    request_counts jsonb NOT NULL DEFAULT '{}' CHECK (
        jsonb_typeof(request_counts) = 'object'
    ),
    digests jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(digests) = 'object'),
    -- earlier batches of this job (earlier waves, or given up: cancelled by a pause, failed)
    previous_batch_ids text[] NOT NULL DEFAULT '{}',
    submitted_at timestamptz,
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
