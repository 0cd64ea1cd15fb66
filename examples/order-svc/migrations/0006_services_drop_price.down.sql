-- Restore the legacy column from the new one, then relax the new column back
-- to its expand-phase shape.
ALTER TABLE services ADD COLUMN price DECIMAL(12,2) NULL AFTER category;
UPDATE services SET price = base_price_vnd;
ALTER TABLE services
    DROP CONSTRAINT chk_services_base_price_vnd,
    MODIFY COLUMN price DECIMAL(12,2) NOT NULL,
    MODIFY COLUMN base_price_vnd BIGINT NULL;
