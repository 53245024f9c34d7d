-- One-off forecasts (POST /v1/forecast) kept with their answers, listed by
-- GET /v1/forecasts newest first and read back by GET /v1/forecasts/{id}.
-- Keyed by (tenant, created, id): a tenant's list is one range of the key.
CREATE TABLE IF NOT EXISTS forecast_uploads (
    tenant String,
    id String,
    created Int64,
    file_name String,
    series UInt32,
    mode String,
    answer String,
    time DateTime MATERIALIZED toDateTime(intDiv(created, 1000))
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(created, 1000)))
ORDER BY (tenant, created, id);
