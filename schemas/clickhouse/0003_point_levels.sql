-- Points carry what the console's stock and spend views read: on hand
-- (stock), and the period's spend so far, budget and projection (spend).
-- Rows written before read as NULL.
ALTER TABLE points
    ADD COLUMN level Nullable(Float64),
    ADD COLUMN budget Nullable(Float64),
    ADD COLUMN projected Nullable(Float64);
