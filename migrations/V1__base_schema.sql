-- Base schema of the developer marketplace: users with skills, projects, tasks, payments.
-- Primary and foreign keys only; the secondary indexes come in their own migrations.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         text        NOT NULL UNIQUE,
    display_name  text        NOT NULL,
    role          text        NOT NULL DEFAULT 'developer'
                  CHECK (role IN ('developer', 'client', 'admin')),
    skills        text[]      NOT NULL DEFAULT '{}',
    hourly_rate   numeric(10, 2),
    country       text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    client_id    bigint      NOT NULL REFERENCES users (id),
    title        text        NOT NULL,
    description  text,
    status       text        NOT NULL DEFAULT 'draft'
                 CHECK (status IN ('draft', 'open', 'in_progress', 'completed', 'cancelled')),
    budget       numeric(12, 2),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id    bigint      NOT NULL REFERENCES projects (id),
    developer_id  bigint      REFERENCES users (id),
    title         text        NOT NULL,
    status        text        NOT NULL DEFAULT 'todo'
                  CHECK (status IN ('todo', 'in_progress', 'review', 'done')),
    estimate_hours numeric(6, 2),
    due_date      date,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id   bigint      NOT NULL REFERENCES projects (id),
    payer_id     bigint      NOT NULL REFERENCES users (id),
    payee_id     bigint      NOT NULL REFERENCES users (id),
    amount       numeric(12, 2) NOT NULL CHECK (amount > 0),
    currency     text        NOT NULL DEFAULT 'USD' CHECK (length(currency) = 3),
    status       text        NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'refunded')),
    created_at   timestamptz NOT NULL DEFAULT now()
);
