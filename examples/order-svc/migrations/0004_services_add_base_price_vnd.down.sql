ALTER TABLE services DROP COLUMN base_price_vnd;
