-- Everyone who signs in. Volunteers are known here only by a random
-- pseudonym; their real identity lives in volunteer_personal_data.
CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('volunteer', 'coordinator', 'relay_operator', 'lab_inspector', 'administrator')),
    status TEXT NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
    pseudonym TEXT UNIQUE,
    display_name TEXT NOT NULL,
    -- Staff only: a volunteer's address is personal data and lives apart.
    email TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((role = 'volunteer') = (pseudonym IS NOT NULL)),
    CHECK (role <> 'volunteer' OR email IS NULL)
);

-- Readable by administrators only; every read is audited.
CREATE TABLE volunteer_personal_data (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    legal_name TEXT,
    email TEXT UNIQUE,
    phone TEXT,
    payout_details TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
