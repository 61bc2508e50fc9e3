-- Seed index: a developer's tasks.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_tasks_developer_id ON tasks (developer_id);
