-- vigie history in ClickHouse, version 1.
--
-- Applied by `vigie migrate` (each file once, in order, recorded in
-- vigie_migrations). Kept to what ClickHouse 18.16 has (no DateTime64, no
-- TTL, no LowCardinality): times are epoch milliseconds in Int64, with a
-- MATERIALIZED DateTime `time` for Grafana's time macros.
--
-- Every table is a ReplacingMergeTree ordered by (tenant, series, ts, id):
-- outputs carry deterministic ids, so a replay writes rows with the same
-- key and a merge (or SELECT ... FINAL) keeps one. Monthly partitions.

CREATE TABLE IF NOT EXISTS points (
    tenant String,
    series String,
    ts Int64,
    id String,
    kind String,
    value Float64,
    forecast Nullable(Float64),
    lower Nullable(Float64),
    upper Nullable(Float64),
    z Nullable(Float64),
    anomaly_score Float64,
    severity String,
    events UInt32,
    model String,
    time DateTime MATERIALIZED toDateTime(intDiv(ts, 1000))
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000)))
ORDER BY (tenant, series, ts, id);

CREATE TABLE IF NOT EXISTS forecasts (
    tenant String,
    series String,
    ts Int64,
    id String,
    kind String,
    made_at Int64,
    step UInt32,
    forecast Float64,
    lower Float64,
    upper Float64,
    model String,
    time DateTime MATERIALIZED toDateTime(intDiv(ts, 1000))
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000)))
ORDER BY (tenant, series, ts, id);

CREATE TABLE IF NOT EXISTS anomalies (
    tenant String,
    series String,
    ts Int64,
    id String,
    kind String,
    actual Float64,
    expected Float64,
    residual Float64,
    std_deviations Float64,
    severity String,
    description String,
    time DateTime MATERIALIZED toDateTime(intDiv(ts, 1000))
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000)))
ORDER BY (tenant, series, ts, id);

CREATE TABLE IF NOT EXISTS alerts (
    tenant String,
    series String,
    ts Int64,
    id String,
    fingerprint String,
    rule String,
    status String,
    severity String,
    starts_at Int64,
    repeat UInt32,
    seq UInt64,
    value Float64,
    threshold Float64,
    event_id Nullable(String),
    description String,
    time DateTime MATERIALIZED toDateTime(intDiv(ts, 1000))
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000)))
ORDER BY (tenant, series, ts, id);

-- Dead letters have no series; `ts` is when they were received and
-- `tenant` is empty when the input never named one.
CREATE TABLE IF NOT EXISTS dead_letters (
    tenant String,
    series String,
    ts Int64,
    id String,
    reason String,
    message String,
    source String,
    raw String,
    time DateTime MATERIALIZED toDateTime(intDiv(ts, 1000))
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000)))
ORDER BY (tenant, series, ts, id);
