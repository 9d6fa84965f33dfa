-- docgen foundation: organizations and their LLM settings, data objects, documentation
-- versions, jobs with per-object state, per-layer logs.
-- Column names follow the original brief (seed/000_...txt); additions are commented.

CREATE SCHEMA IF NOT EXISTS enterprise;
CREATE SCHEMA IF NOT EXISTS metadata;

-- ---------------------------------------------------------------------------------------
-- enterprise: who may use docgen, and with which LLM settings
-- ---------------------------------------------------------------------------------------

CREATE TABLE enterprise.organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX organizations_name_key ON enterprise.organizations (lower(name));

CREATE TABLE enterprise.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    -- system users (the nightly re-documentation) cannot log in; they only trigger jobs
    is_system boolean NOT NULL DEFAULT FALSE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON enterprise.users (lower(email));

CREATE TABLE enterprise.organization_members (
    organization_id uuid NOT NULL REFERENCES enterprise.organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES enterprise.users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('admin', 'member')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);

-- One row per organization. The API key is AES-256-GCM ciphertext (random 96-bit nonce,
-- associated data = organization id + provider), never plaintext.
CREATE TABLE enterprise.organization_llm_settings (
    organization_id uuid PRIMARY KEY
        REFERENCES enterprise.organizations (id) ON DELETE CASCADE,
    provider text NOT NULL DEFAULT 'openai' CHECK (provider IN ('openai', 'offline')),
    base_url text CHECK (base_url IS NULL OR base_url ~ '^https?://'),
    model text NOT NULL DEFAULT 'gpt-4o' CHECK (btrim(model) <> ''),
    requests_per_minute integer CHECK (requests_per_minute > 0),
    tokens_per_minute integer CHECK (tokens_per_minute > 0),
    -- true: response_format json_schema (strict); false: json_object + validation
    structured_outputs boolean NOT NULL DEFAULT TRUE,
    api_key_ciphertext bytea,
    api_key_nonce bytea,
    api_key_updated_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_key_complete CHECK (
        (api_key_ciphertext IS NULL) = (api_key_nonce IS NULL)
        AND (api_key_nonce IS NULL OR length(api_key_nonce) = 12)
    )
);

-- The brief's documentation_jobs.connection_id points here.
CREATE TABLE enterprise.github_connections (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES enterprise.organizations (id) ON DELETE CASCADE,
    repository text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------------------------------
-- metadata.objects: the data-model code to document
-- ---------------------------------------------------------------------------------------

CREATE TABLE metadata.objects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES enterprise.organizations (id) ON DELETE CASCADE,
    object_type text NOT NULL
        CHECK (object_type IN ('table', 'view', 'dbt_model', 'cte', 'dataframe')),
    name text NOT NULL CHECK (btrim(name) <> ''),
    -- stable identity within the organization, e.g. model.jaffle_shop.orders
    unique_key text NOT NULL CHECK (btrim(unique_key) <> ''),
    code text NOT NULL DEFAULT '',
    compiled_code text,
    language text NOT NULL DEFAULT 'sql' CHECK (language IN ('sql', 'python')),
    dialect text,
    -- [{name, data_type, description}]
    columns jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(columns) = 'array'),
    upstream_object_ids uuid[] NOT NULL DEFAULT '{}',
    source_path text,
    -- additions: where it came from and what people already wrote about it
    source_kind text CHECK (source_kind IN ('dbt', 'sql', 'postgres', 'python', 'manual')),
    database_name text,
    schema_name text,
    description text,
    materialization text,
    tags text[] NOT NULL DEFAULT '{}',
    properties jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    content_hash text NOT NULL,
    -- set when a re-ingest no longer finds the object; its documentation is kept
    removed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT objects_unique_key UNIQUE (organization_id, unique_key),
    -- lets child tables prove object and organization agree
    CONSTRAINT objects_org_id_key UNIQUE (organization_id, id)
);
CREATE INDEX objects_org_name_idx ON metadata.objects (organization_id, name);
CREATE INDEX objects_upstream_idx ON metadata.objects USING gin (upstream_object_ids);

-- ---------------------------------------------------------------------------------------
-- documentation jobs, their per-object state, documentation versions, layer logs
-- ---------------------------------------------------------------------------------------

CREATE TABLE metadata.documentation_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES enterprise.organizations (id) ON DELETE CASCADE,
    connection_id uuid REFERENCES enterprise.github_connections (id) ON DELETE SET NULL,
    object_ids uuid[] NOT NULL,
    total_objects integer NOT NULL CHECK (total_objects >= 0),
    processed_objects integer NOT NULL DEFAULT 0 CHECK (processed_objects >= 0),
    failed_objects integer NOT NULL DEFAULT 0 CHECK (failed_objects >= 0),
    -- addition: objects skipped by skip_existing (counted in processed_objects too)
    skipped_objects integer NOT NULL DEFAULT 0 CHECK (skipped_objects >= 0),
    status text NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled', 'paused')),
    current_object_id uuid,
    progress_percentage numeric(5, 2) NOT NULL DEFAULT 0
        CHECK (progress_percentage BETWEEN 0 AND 100),
    estimated_completion_time timestamptz,
    -- addition: written by update_average_processing_time
    average_processing_time_ms integer,
    api_provider text NOT NULL DEFAULT 'openai',
    model_name text NOT NULL,
    total_tokens_used bigint NOT NULL DEFAULT 0 CHECK (total_tokens_used >= 0),
    -- additions: the split of total_tokens_used
    prompt_tokens_used bigint NOT NULL DEFAULT 0,
    completion_tokens_used bigint NOT NULL DEFAULT 0,
    -- USD estimated before any LLM call, from each object's size and the pricing table
    estimated_cost numeric(14, 6) NOT NULL DEFAULT 0 CHECK (estimated_cost >= 0),
    -- additions: the estimate's tokens, and the cost actually spent so far
    estimated_tokens bigint NOT NULL DEFAULT 0,
    actual_cost numeric(14, 6) NOT NULL DEFAULT 0 CHECK (actual_cost >= 0),
    layers_completed jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(layers_completed) = 'object'),
    layers_failed jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(layers_failed) = 'object'),
    triggered_by_user_id uuid REFERENCES enterprise.users (id) ON DELETE SET NULL,
    -- additions: {skip_existing, regenerate_all, max_retries, concurrency, max_cost_usd}
    options jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    prefect_flow_run_id uuid,
    error_log jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(error_log) = 'array'),
    started_at timestamptz,
    completed_at timestamptz,
    paused_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_processed_within_total CHECK (processed_objects <= total_objects),
    CONSTRAINT jobs_failed_within_processed CHECK (
        failed_objects + skipped_objects <= processed_objects
    )
);
CREATE INDEX documentation_jobs_org_idx
ON metadata.documentation_jobs (organization_id, created_at DESC);

CREATE TABLE metadata.object_documentation (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    object_id uuid NOT NULL,
    organization_id uuid NOT NULL,
    executive_summary text,
    business_narrative jsonb,
    transformation_cards jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(transformation_cards) = 'array'),
    code_explanations jsonb NOT NULL DEFAULT '[]'
        CHECK (jsonb_typeof(code_explanations) = 'array'),
    business_rules jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(business_rules) = 'array'),
    impact_analysis jsonb,
    complexity_score integer CHECK (complexity_score BETWEEN 1 AND 5),
    version integer NOT NULL CHECK (version >= 1),
    is_current boolean NOT NULL DEFAULT FALSE,
    generation_status text NOT NULL DEFAULT 'pending'
        CHECK (generation_status IN ('pending', 'processing', 'completed', 'failed')),
    generated_by_model text,
    generation_metadata jsonb NOT NULL DEFAULT '{}'
        CHECK (jsonb_typeof(generation_metadata) = 'object'),
    -- additions: the job that made it, and the hash of everything it was made from
    -- (code, upstream documentation, prompt version, model) for skip_existing
    job_id uuid REFERENCES metadata.documentation_jobs (id) ON DELETE SET NULL,
    input_hash text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT object_documentation_object_fk FOREIGN KEY (organization_id, object_id)
    REFERENCES metadata.objects (organization_id, id) ON DELETE CASCADE,
    CONSTRAINT object_documentation_version_key UNIQUE (object_id, version)
);
-- At most one current version per object, enforced here rather than trusted to code.
CREATE UNIQUE INDEX object_documentation_one_current
ON metadata.object_documentation (object_id) WHERE is_current;

-- Per-object state of a job: what makes a rerun continue exactly where it stopped.
CREATE TABLE metadata.documentation_job_objects (
    job_id uuid NOT NULL REFERENCES metadata.documentation_jobs (id) ON DELETE CASCADE,
    object_id uuid NOT NULL REFERENCES metadata.objects (id) ON DELETE CASCADE,
    position integer NOT NULL,
    status text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'processing', 'documented', 'failed', 'skipped')),
    attempts integer NOT NULL DEFAULT 0,
    -- flow run (or process) that claimed it; NULL while pending
    claimed_by text,
    estimated_tokens integer NOT NULL DEFAULT 0,
    estimated_cost numeric(14, 6) NOT NULL DEFAULT 0,
    tokens_used bigint NOT NULL DEFAULT 0,
    cost numeric(14, 6) NOT NULL DEFAULT 0,
    documentation_id uuid REFERENCES metadata.object_documentation (id) ON DELETE SET NULL,
    error_message text,
    started_at timestamptz,
    finished_at timestamptz,
    PRIMARY KEY (job_id, object_id)
);
CREATE INDEX documentation_job_objects_todo_idx
ON metadata.documentation_job_objects (job_id, status, position);

CREATE TABLE metadata.documentation_generation_logs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id uuid REFERENCES metadata.documentation_jobs (id) ON DELETE CASCADE,
    object_id uuid NOT NULL REFERENCES metadata.objects (id) ON DELETE CASCADE,
    layer text NOT NULL CHECK (layer IN (
        'executive_summary', 'business_narrative', 'transformation_cards',
        'code_explanations', 'business_rules', 'impact_analysis'
    )),
    status text NOT NULL CHECK (status IN ('started', 'completed', 'failed')),
    tokens_used integer NOT NULL DEFAULT 0 CHECK (tokens_used >= 0),
    processing_time_ms integer CHECK (processing_time_ms >= 0),
    error_message text,
    model_used text,
    finish_reason text,
    -- additions: the usage split, attempts made, and the version the layer went into
    prompt_tokens integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    cached_tokens integer NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 1,
    documentation_id uuid REFERENCES metadata.object_documentation (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documentation_generation_logs_job_idx
ON metadata.documentation_generation_logs (job_id, object_id);
CREATE INDEX documentation_generation_logs_object_idx
ON metadata.documentation_generation_logs (object_id, created_at);

-- ---------------------------------------------------------------------------------------
-- The brief's helper functions. Each is one statement on the job row (row-locked by
-- UPDATE), so concurrent callers never lose an increment.
-- Custom SQLSTATEs: DGN01 not found, DGJ01 refused status change.
-- ---------------------------------------------------------------------------------------

-- Raise the right error when a counter update matched no row: unknown job (DGN01) or a
-- count that would pass its bound (DGJ01), i.e. an object counted twice.
CREATE FUNCTION metadata._job_counter_refused(job_id uuid, counter text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_job metadata.documentation_jobs;
BEGIN
    SELECT * INTO v_job FROM metadata.documentation_jobs AS j
     WHERE j.id = _job_counter_refused.job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'documentation job % does not exist', job_id USING ERRCODE = 'DGN01';
    END IF;
    IF counter = 'processed' THEN
        RAISE EXCEPTION 'job % already counts all % objects as processed', job_id,
            v_job.total_objects USING ERRCODE = 'DGJ01';
    END IF;
    RAISE EXCEPTION 'job % cannot count more failed objects (% processed, % failed, % skipped)',
        job_id, v_job.processed_objects, v_job.failed_objects, v_job.skipped_objects
        USING ERRCODE = 'DGJ01';
END;
$$;

-- Count one more finished object (documented, failed or skipped) and recompute progress.
CREATE FUNCTION metadata.increment_processed_objects(job_id uuid)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_processed integer;
BEGIN
    UPDATE metadata.documentation_jobs AS j
       SET processed_objects = j.processed_objects + 1,
           progress_percentage = CASE
               WHEN j.total_objects = 0 THEN 100
               ELSE round((j.processed_objects + 1) * 100.0 / j.total_objects, 2)
           END,
           updated_at = now()
     WHERE j.id = increment_processed_objects.job_id
       AND j.processed_objects < j.total_objects
    RETURNING j.processed_objects INTO v_processed;
    IF NOT FOUND THEN
        PERFORM metadata._job_counter_refused(job_id, 'processed');
    END IF;
    RETURN v_processed;
END;
$$;

-- Count one more failed object (call after increment_processed_objects for it).
CREATE FUNCTION metadata.increment_failed_objects(job_id uuid)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_failed integer;
BEGIN
    UPDATE metadata.documentation_jobs AS j
       SET failed_objects = j.failed_objects + 1,
           updated_at = now()
     WHERE j.id = increment_failed_objects.job_id
       AND j.failed_objects + j.skipped_objects < j.processed_objects
    RETURNING j.failed_objects INTO v_failed;
    IF NOT FOUND THEN
        PERFORM metadata._job_counter_refused(job_id, 'failed');
    END IF;
    RETURN v_failed;
END;
$$;

-- Move a job to `status`, setting timestamps, appending error_details to error_log.
-- Allowed moves:   queued     -> processing, paused, cancelled, failed
--                  processing -> completed, failed, cancelled, paused, queued
--                  paused     -> queued, processing, cancelled, failed
-- completed, failed and cancelled are terminal: leaving them is refused (DGJ01); a failed
-- or stuck job is reopened on purpose with metadata.reopen_job. Setting the status a job
-- already has is a no-op (hooks may fire twice) that still records error_details.
CREATE FUNCTION metadata.update_job_status(
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
    IF v_new NOT IN ('queued', 'processing', 'completed', 'failed', 'cancelled', 'paused') THEN
        RAISE EXCEPTION 'unknown job status "%"', update_job_status.status
            USING ERRCODE = 'DGJ01';
    END IF;
    IF v_new <> v_job.status AND NOT (
        (v_job.status = 'queued' AND v_new IN ('processing', 'paused', 'cancelled', 'failed'))
        OR (v_job.status = 'processing'
            AND v_new IN ('completed', 'failed', 'cancelled', 'paused', 'queued'))
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

-- Reopen a failed job (or one left 'processing' by a killed process) so it can run again:
-- the explicit way out of a terminal state. Completed and cancelled jobs stay closed.
CREATE FUNCTION metadata.reopen_job(job_id uuid, reason text DEFAULT 'rerun')
RETURNS metadata.documentation_jobs
LANGUAGE plpgsql AS $$
DECLARE
    v_job metadata.documentation_jobs;
BEGIN
    SELECT * INTO v_job FROM metadata.documentation_jobs AS j
     WHERE j.id = reopen_job.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'documentation job % does not exist', job_id USING ERRCODE = 'DGN01';
    END IF;
    IF v_job.status IN ('completed', 'cancelled') THEN
        RAISE EXCEPTION 'job % is % and cannot run again; create a new job', job_id,
            v_job.status USING ERRCODE = 'DGJ01';
    END IF;
    UPDATE metadata.documentation_jobs AS j
       SET status = 'queued',
           completed_at = NULL,
           paused_at = NULL,
           current_object_id = NULL,
           error_log = j.error_log || jsonb_build_array(jsonb_build_object(
               'at', now(), 'status', 'queued', 'reopened_from', v_job.status,
               'reason', reopen_job.reason)),
           updated_at = now()
     WHERE j.id = v_job.id
    RETURNING * INTO v_job;
    RETURN v_job;
END;
$$;

-- Average milliseconds per finished object, from the per-layer logs of this job.
CREATE FUNCTION metadata.update_average_processing_time(job_id uuid)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_avg integer;
BEGIN
    SELECT round(avg(per_object.ms))::integer INTO v_avg
      FROM (SELECT l.object_id, sum(l.processing_time_ms) AS ms
              FROM metadata.documentation_generation_logs AS l
             WHERE l.job_id = update_average_processing_time.job_id
               AND l.status IN ('completed', 'failed')
             GROUP BY l.object_id) AS per_object;
    UPDATE metadata.documentation_jobs AS j
       SET average_processing_time_ms = v_avg, updated_at = now()
     WHERE j.id = update_average_processing_time.job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'documentation job % does not exist', job_id USING ERRCODE = 'DGN01';
    END IF;
    RETURN v_avg;
END;
$$;

-- Estimated completion: the job's observed throughput since it started (which accounts for
-- its concurrency) over the remaining objects; before the first object finishes, the
-- average processing time divided by the job's concurrency.
CREATE FUNCTION metadata.update_estimated_completion(job_id uuid)
RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    v_job metadata.documentation_jobs;
    v_remaining integer;
    v_eta timestamptz;
    v_concurrency integer;
BEGIN
    SELECT * INTO v_job FROM metadata.documentation_jobs AS j
     WHERE j.id = update_estimated_completion.job_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'documentation job % does not exist', job_id USING ERRCODE = 'DGN01';
    END IF;
    v_remaining := v_job.total_objects - v_job.processed_objects;
    v_concurrency := greatest(coalesce((v_job.options ->> 'concurrency')::integer, 1), 1);
    IF v_remaining <= 0 THEN
        v_eta := now();
    ELSIF v_job.processed_objects > 0 AND v_job.started_at IS NOT NULL THEN
        v_eta := now() + (now() - v_job.started_at) / v_job.processed_objects * v_remaining;
    ELSIF v_job.average_processing_time_ms IS NOT NULL THEN
        v_eta := now() + make_interval(
            secs => v_job.average_processing_time_ms / 1000.0 * v_remaining / v_concurrency
        );
    END IF;
    UPDATE metadata.documentation_jobs AS j
       SET estimated_completion_time = v_eta, updated_at = now()
     WHERE j.id = v_job.id;
    RETURN v_eta;
END;
$$;

-- A quick look at an object's current documentation, as one JSON document.
CREATE FUNCTION metadata.get_documentation_summary(object_id uuid)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'object_id', o.id,
        'organization_id', o.organization_id,
        'name', o.name,
        'object_type', o.object_type,
        'has_documentation', d.id IS NOT NULL,
        'documentation_id', d.id,
        'version', d.version,
        'executive_summary', d.executive_summary,
        'complexity_score', d.complexity_score,
        'generation_status', d.generation_status,
        'generated_by_model', d.generated_by_model,
        'generated_at', d.created_at,
        'version_count', (SELECT count(*) FROM metadata.object_documentation AS v
                           WHERE v.object_id = o.id),
        'layers_present', (
            SELECT coalesce(jsonb_agg(layer.name ORDER BY layer.pos), '[]'::jsonb)
              FROM (VALUES
                    (1, 'executive_summary', d.executive_summary IS NOT NULL),
                    (2, 'business_narrative', d.business_narrative IS NOT NULL),
                    (3, 'transformation_cards', jsonb_array_length(
                        coalesce(d.transformation_cards, '[]')) > 0),
                    (4, 'code_explanations', jsonb_array_length(
                        coalesce(d.code_explanations, '[]')) > 0),
                    (5, 'business_rules', jsonb_array_length(
                        coalesce(d.business_rules, '[]')) > 0),
                    (6, 'impact_analysis', d.impact_analysis IS NOT NULL)
              ) AS layer (pos, name, present)
             WHERE layer.present)
    )
      FROM metadata.objects AS o
      LEFT JOIN metadata.object_documentation AS d
        ON d.object_id = o.id AND d.is_current
     WHERE o.id = get_documentation_summary.object_id;
$$;
