-- Orders belong to the JWT subject that created them. The unique key on
-- (customer_id, idempotency_key) backs the Redis idempotency record: if Redis
-- loses a key, the database still refuses a second order for the same key.
CREATE TABLE orders (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    customer_id     VARCHAR(255)    NOT NULL,
    service_id      VARCHAR(64)     NOT NULL,
    quantity        INT             NOT NULL,
    unit_price_vnd  BIGINT          NOT NULL,
    total_vnd       BIGINT          NOT NULL,
    currency        CHAR(3)         NOT NULL DEFAULT 'VND',
    note            VARCHAR(500)    NOT NULL DEFAULT '',
    status          VARCHAR(16)     NOT NULL DEFAULT 'created',
    idempotency_key VARCHAR(255)    NOT NULL,
    request_hash    CHAR(64)        NOT NULL,
    created_at      DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (id),
    UNIQUE KEY uq_orders_customer_idempotency_key (customer_id, idempotency_key),
    KEY idx_orders_customer_created (customer_id, created_at),
    KEY idx_orders_service (service_id),
    CONSTRAINT fk_orders_service FOREIGN KEY (service_id) REFERENCES services (id),
    CONSTRAINT chk_orders_quantity CHECK (quantity > 0),
    CONSTRAINT chk_orders_amounts CHECK (unit_price_vnd >= 0 AND total_vnd >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
