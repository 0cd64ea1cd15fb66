-- MIGRATE DATA (release 1.1). Fill the new column for rows written before the
-- expand step. Idempotent: rows already written by new code are left alone.
UPDATE services SET base_price_vnd = CAST(ROUND(price) AS SIGNED) WHERE base_price_vnd IS NULL;
