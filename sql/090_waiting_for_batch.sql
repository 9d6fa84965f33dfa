-- Batch mode under a deployment (issue 18): while its Batch API batch runs, a job is
-- 'waiting_for_batch' and no flow run holds a worker; the batch-poller deployment polls the
-- batch and starts documentation-job/existing-job once it is done (flows/batch_poller.py).
-- Allowed moves added:  processing        -> waiting_for_batch
--                       waiting_for_batch -> queued, processing, paused, cancelled, failed
--                       queued            -> waiting_for_batch (no runner could be started)
ALTER TABLE metadata.documentation_jobs
DROP CONSTRAINT documentation_jobs_status_check;

ALTER TABLE metadata.documentation_jobs
ADD CONSTRAINT documentation_jobs_status_check CHECK (
    status IN (
        'queued', 'processing', 'waiting_for_batch', 'completed', 'failed', 'cancelled',
        'paused'
    )
);

-- metadata.update_job_status as in 001, with the moves above.
CREATE OR REPLACE FUNCTION metadata.update_job_status(
    job_id uuid, status varchar, error_details jsonb DEFAULT NULL
)
RETURNS metadata.documentation_jobs
LANGUAGE plpgsql AS $$
DECLARE
    v_job metadata.documentation_jobs;
    v_new text := lower(update_job_status.status);
    v_entry jsonb;
BEGIN
    SELECT * INTO v_job FROM metadata.documentation_jobs AS j
     WHERE j.id = update_job_status.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'documentation job % does not exist', job_id USING ERRCODE = 'DGN01';
    END IF;
    IF v_new NOT IN (
        'queued', 'processing', 'waiting_for_batch', 'completed', 'failed', 'cancelled', 'paused'
    ) THEN
        RAISE EXCEPTION 'unknown job status "%"', update_job_status.status
            USING ERRCODE = 'DGJ01';
    END IF;
    IF v_new <> v_job.status AND NOT (
        (v_job.status = 'queued'
            AND v_new IN ('processing', 'paused', 'cancelled', 'failed', 'waiting_for_batch'))
        OR (v_job.status = 'processing'
            AND v_new IN ('completed', 'failed', 'cancelled', 'paused', 'queued',
                          'waiting_for_batch'))
        OR (v_job.status = 'waiting_for_batch'
            AND v_new IN ('queued', 'processing', 'paused', 'cancelled', 'failed'))
        OR (v_job.status = 'paused' AND v_new IN ('queued', 'processing', 'cancelled', 'failed'))
    ) THEN
        RAISE EXCEPTION 'job % is % and cannot become %', job_id, v_job.status, v_new
            USING ERRCODE = 'DGJ01';
    END IF;

    IF error_details IS NOT NULL THEN
        v_entry := jsonb_build_object('at', now(), 'status', v_new)
            || CASE WHEN jsonb_typeof(error_details) = 'object' THEN error_details
                    ELSE jsonb_build_object('error', error_details) END;
    END IF;

    UPDATE metadata.documentation_jobs AS j
       SET status = v_new,
           started_at = CASE WHEN v_new = 'processing' THEN coalesce(j.started_at, now())
                             ELSE j.started_at END,
           completed_at = CASE WHEN v_new IN ('completed', 'failed', 'cancelled')
                               THEN coalesce(j.completed_at, now()) ELSE j.completed_at END,
           paused_at = CASE WHEN v_new = 'paused' THEN coalesce(j.paused_at, now())
                            WHEN v_new IN ('queued', 'processing') THEN NULL
                            ELSE j.paused_at END,
           current_object_id = CASE WHEN v_new = 'processing' THEN j.current_object_id
                                    ELSE NULL END,
           estimated_completion_time = CASE WHEN v_new = 'completed' THEN now()
                                            WHEN v_new IN ('failed', 'cancelled') THEN NULL
                                            ELSE j.estimated_completion_time END,
           error_log = CASE WHEN v_entry IS NULL THEN j.error_log
                            ELSE j.error_log || jsonb_build_array(v_entry) END,
           updated_at = now()
     WHERE j.id = v_job.id
    RETURNING * INTO v_job;
    RETURN v_job;
END;
$$;
