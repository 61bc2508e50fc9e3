-- Seed index: projects listed by status.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_projects_status ON projects (status);
