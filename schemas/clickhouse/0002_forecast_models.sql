-- Forecasts record the model that made them in full: its smoothing
-- parameters, when it was last refitted, and its live accuracy (rolling
-- MASE and interval coverage). Rows written before read as NULL / 0.
ALTER TABLE forecasts
    ADD COLUMN alpha Nullable(Float64),
    ADD COLUMN beta Nullable(Float64),
    ADD COLUMN gamma Nullable(Float64),
    ADD COLUMN phi Nullable(Float64),
    ADD COLUMN fitted_at Nullable(Int64),
    ADD COLUMN mase Nullable(Float64),
    ADD COLUMN coverage Nullable(Float64),
    ADD COLUMN scored UInt32;
