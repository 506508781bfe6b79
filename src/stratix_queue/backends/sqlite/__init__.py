"""sqlite: its driver (driver.py), named queries (queries.sql) and migrations (migrations/)."""
