-- The example tables of a SQL Sentinel setup (orders, api_logs, data_pipeline), with data that
-- makes "Low Daily Revenue" and "High API Error Rate" fire and "Stale data_pipeline (24h)" pass.

CREATE TABLE orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    date TEXT NOT NULL,
    amount REAL NOT NULL,
    customer_id INTEGER NOT NULL
);

-- yesterday: 8,512.50 in 4 orders, below the 10,000 threshold
INSERT INTO orders (date, amount, customer_id) VALUES
    (date('now', '-1 day'), 4000.00, 1),
    (date('now', '-1 day'), 2500.00, 2),
    (date('now', '-1 day'), 1512.50, 3),
    (date('now', '-1 day'), 500.00, 4),
    (date('now', '-2 day'), 12000.00, 5);

CREATE TABLE api_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status TEXT NOT NULL,
    duration_ms INTEGER
);

-- the last hour: 2 errors in 10 calls (20% > 5%)
INSERT INTO api_logs (timestamp, endpoint, status, duration_ms) VALUES
    (datetime('now', '-30 minutes'), '/api/users', 'success', 45),
    (datetime('now', '-29 minutes'), '/api/orders', 'success', 120),
    (datetime('now', '-28 minutes'), '/api/products', 'error', 5000),
    (datetime('now', '-27 minutes'), '/api/users', 'error', 5000),
    (datetime('now', '-26 minutes'), '/api/orders', 'success', 98),
    (datetime('now', '-25 minutes'), '/api/products', 'success', 72),
    (datetime('now', '-24 minutes'), '/api/users', 'success', 52),
    (datetime('now', '-23 minutes'), '/api/orders', 'success', 115),
    (datetime('now', '-22 minutes'), '/api/products', 'success', 68),
    (datetime('now', '-21 minutes'), '/api/users', 'success', 48);

CREATE TABLE data_pipeline (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline_name TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    records_processed INTEGER
);

-- written 30 minutes ago: fresh
INSERT INTO data_pipeline (pipeline_name, updated_at, records_processed) VALUES
    ('customer_sync', datetime('now', '-2 hours'), 1523),
    ('order_sync', datetime('now', '-30 minutes'), 892);
