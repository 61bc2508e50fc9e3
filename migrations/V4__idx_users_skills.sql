-- Seed index: users having a skill (array containment).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_skills ON users USING GIN (skills);
