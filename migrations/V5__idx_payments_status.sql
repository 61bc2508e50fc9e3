-- Seed index: payments by status in a time range, ordered by date.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_payments_status ON payments (status, created_at);
