-- The SMP service catalog. Release 1.0 stored the base price as DECIMAL(12,2);
-- VND has no minor unit, so 0004..0006 move it to an integer column (expand/contract).
CREATE TABLE services (
    id         VARCHAR(64)   NOT NULL,
    name       VARCHAR(200)  NOT NULL,
    category   VARCHAR(64)   NOT NULL,
    price      DECIMAL(12,2) NOT NULL,
    currency   CHAR(3)       NOT NULL DEFAULT 'VND',
    active     BOOLEAN       NOT NULL DEFAULT TRUE,
    created_at DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    KEY idx_services_category (category)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
