-- Azure OpenAI as a provider (issue 18).
-- provider 'azure': base_url holds the resource endpoint (https://NAME.openai.azure.com),
-- azure_deployment the deployment the requests go to, azure_api_version the api-version
-- query parameter; model stays the model behind the deployment (pricing, generated_by_model).
ALTER TABLE enterprise.organization_llm_settings
DROP CONSTRAINT organization_llm_settings_provider_check;

ALTER TABLE enterprise.organization_llm_settings
ADD CONSTRAINT organization_llm_settings_provider_check
CHECK (provider IN ('openai', 'azure', 'offline')),
ADD COLUMN azure_deployment text CHECK (
    azure_deployment IS NULL OR azure_deployment ~ '^[A-Za-z0-9._-]{1,64}$'
),
ADD COLUMN azure_api_version text CHECK (
    azure_api_version IS NULL OR azure_api_version ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$'
),
ADD CONSTRAINT azure_settings_complete CHECK (
    provider <> 'azure'
    OR (
        base_url IS NOT NULL
        AND azure_deployment IS NOT NULL
        AND azure_api_version IS NOT NULL
    )
);
