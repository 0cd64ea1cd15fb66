-- Undo the backfill only where the legacy column still holds the same value,
-- so the schema and data return to the state after 0004.
UPDATE services SET base_price_vnd = NULL WHERE base_price_vnd = CAST(ROUND(price) AS SIGNED);
