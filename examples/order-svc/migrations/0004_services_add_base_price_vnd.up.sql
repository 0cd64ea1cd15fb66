-- EXPAND (release 1.1, phase 1 of 2). A nullable integer column next to the
-- legacy DECIMAL price. Code of this release writes both columns and reads
-- base_price_vnd, falling back to price while it is NULL.
ALTER TABLE services ADD COLUMN base_price_vnd BIGINT NULL AFTER price;
