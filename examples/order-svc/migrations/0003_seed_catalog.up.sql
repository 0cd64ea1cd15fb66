-- Reference data: the services SMP sells. Prices are in VND.
INSERT INTO services (id, name, category, price, currency, active) VALUES
    ('express-delivery',   'Giao hàng nhanh nội thành',  'delivery',    35000.00, 'VND', TRUE),
    ('standard-delivery',  'Giao hàng tiêu chuẩn',       'delivery',    22000.00, 'VND', TRUE),
    ('intercity-delivery', 'Giao hàng liên tỉnh',        'delivery',    48000.00, 'VND', TRUE),
    ('cod-collection',     'Thu hộ COD',                 'payment',     10000.00, 'VND', TRUE),
    ('warehouse-storage',  'Lưu kho theo ngày',          'fulfillment', 15000.00, 'VND', TRUE),
    ('bulky-freight',      'Vận chuyển hàng cồng kềnh',  'freight',    250000.00, 'VND', FALSE);
