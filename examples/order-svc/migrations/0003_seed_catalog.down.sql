-- Fails (foreign key) while orders reference these services: reference data
-- in use is not silently deleted.
DELETE FROM services WHERE id IN
    ('express-delivery', 'standard-delivery', 'intercity-delivery',
     'cod-collection', 'warehouse-storage', 'bulky-freight');
