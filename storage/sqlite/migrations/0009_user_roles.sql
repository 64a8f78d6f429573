-- 0009_user_roles: roles on accounts for the admin API and console (issue 13). A role is a
-- row: admin (everything) or support (find, unlock, resend, reset, sign out). Deleting the
-- account deletes its roles. The index serves "who holds this role".
--
-- The PostgreSQL set repeats this file with the same version and table.
CREATE TABLE user_roles (
    user_id    TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT   NOT NULL CHECK (role IN ('admin', 'support')),
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, role)
);
CREATE INDEX user_roles_role ON user_roles (role, user_id);
