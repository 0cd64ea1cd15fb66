-- CONTRACT (release 1.2, phase 2 of 2). Shipped one release after 0004/0005,
-- once no running version reads the legacy price column (the seed's 2-phase rule).
ALTER TABLE services
    MODIFY COLUMN base_price_vnd BIGINT NOT NULL,
    DROP COLUMN price,
    ADD CONSTRAINT chk_services_base_price_vnd CHECK (base_price_vnd >= 0);
