-- Campaigns: what a sampling campaign buys (quotas per category, optionally
-- per category x platform), the candidate listings it may buy, the
-- volunteers' buying profiles, and which task fills which candidate.

-- Product categories are data, not code; the ten focus categories ship here.
-- `normal_price` (minor units, optional) lets the server work out a
-- candidate's price deviation when the import does not give one.
CREATE TABLE categories (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    normal_price BIGINT,
    created_at BIGINT NOT NULL
);
INSERT INTO categories (id, name, normal_price, created_at) VALUES
    ('travel-bags', 'travel bags', NULL, 0),
    ('backpacks', 'backpacks', NULL, 0),
    ('silk-quilts', 'silk quilts', NULL, 0),
    ('induction-cookers', 'induction cookers', NULL, 0),
    ('smart-toilet-seats', 'smart toilet seats', NULL, 0),
    ('leather-shoes', 'leather shoes', NULL, 0),
    ('casual-wear', 'casual wear', NULL, 0),
    ('womens-underwear', 'women''s underwear', NULL, 0),
    ('power-strips', 'power strips', NULL, 0),
    ('sports-shoes', 'sports shoes', NULL, 0);

-- A sampling campaign. Lists (platforms, required evidence kinds, relay
-- stations) are JSON arrays of strings: they are read and written whole.
-- Money is in minor units of `currency`.
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('draft', 'active', 'closed')),
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    platforms TEXT NOT NULL,
    currency TEXT NOT NULL,
    budget BIGINT NOT NULL CHECK (budget >= 0),
    required_evidence TEXT NOT NULL,
    relay_stations TEXT NOT NULL,
    lab TEXT,
    -- How long a volunteer has to accept an offer, and to buy once accepted.
    acceptance_window_secs BIGINT NOT NULL CHECK (acceptance_window_secs > 0),
    purchase_window_secs BIGINT NOT NULL CHECK (purchase_window_secs > 0),
    -- Eligible volunteers may claim open slots themselves.
    open_board BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);

-- Target lots per category, optionally per category x platform. `platform`
-- is '' for the whole category (so the unique key works on both backends,
-- which treat NULLs as distinct). `price_cap`: the most one lot may cost.
CREATE TABLE quotas (
    id TEXT PRIMARY KEY NOT NULL,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    category_id TEXT NOT NULL REFERENCES categories (id),
    platform TEXT NOT NULL,
    target INTEGER NOT NULL CHECK (target >= 0),
    price_cap BIGINT CHECK (price_cap >= 0),
    UNIQUE (campaign_id, category_id, platform)
);

-- A listing the campaign may buy, with its risk signals and the score the
-- server computed from them (with the weights in force at import).
CREATE TABLE candidates (
    id TEXT PRIMARY KEY NOT NULL,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    category_id TEXT NOT NULL REFERENCES categories (id),
    platform TEXT NOT NULL,
    listing_url TEXT NOT NULL,
    shop_id TEXT NOT NULL,
    shop_name TEXT NOT NULL,
    listed_price BIGINT NOT NULL CHECK (listed_price >= 0),
    -- Signals. price_deviation: (listed - normal) / normal, e.g. -0.4.
    price_deviation DOUBLE PRECISION,
    complaints INTEGER NOT NULL CHECK (complaints >= 0),
    bad_rating_share DOUBLE PRECISION,
    sales_volume BIGINT NOT NULL CHECK (sales_volume >= 0),
    -- JSON array: 'flash_sale', 'hot_seller', 'super_low_price'.
    claims TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('complaint', 'public_opinion', 'platform_feed', 'earlier_failure')),
    -- Thousandths of a point, 0 to 100000: exact for the assignment engine.
    risk_milli BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (campaign_id, listing_url)
);
CREATE INDEX candidates_campaign ON candidates (campaign_id, category_id, platform, risk_milli);

-- A volunteer's buying profile (pseudonymous: nothing here names them).
-- `categories` (category ids) and `platforms` are JSON arrays.
CREATE TABLE volunteer_profiles (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    region TEXT NOT NULL,
    categories TEXT NOT NULL,
    platforms TEXT NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    spending_cap BIGINT NOT NULL CHECK (spending_cap >= 0),
    home_station TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'paused')),
    updated_at BIGINT NOT NULL
);

-- Which task fills which candidate of which quota. A candidate has at most
-- one live task (`released_at` NULL): a declined or expired offer releases
-- it back to the pool. `price_cap` is the money the task commits.
CREATE TABLE campaign_tasks (
    task_id TEXT PRIMARY KEY NOT NULL REFERENCES tasks (id),
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    candidate_id TEXT NOT NULL REFERENCES candidates (id),
    volunteer_id TEXT NOT NULL REFERENCES users (id),
    shop_id TEXT NOT NULL,
    price_cap BIGINT NOT NULL,
    offer_expires_at BIGINT,
    -- The assignment commit that made it (NULL for a claim from the board).
    commit_id TEXT,
    created_at BIGINT NOT NULL,
    released_at BIGINT
);
CREATE UNIQUE INDEX campaign_tasks_live_candidate ON campaign_tasks (candidate_id) WHERE released_at IS NULL;
CREATE INDEX campaign_tasks_campaign ON campaign_tasks (campaign_id, released_at);
CREATE INDEX campaign_tasks_volunteer ON campaign_tasks (volunteer_id, campaign_id);

-- A committed assignment, kept under the key the coordinator's commit
-- carried, so a repeated commit answers the first one's result.
CREATE TABLE assignment_commits (
    id TEXT PRIMARY KEY NOT NULL,
    campaign_id TEXT NOT NULL REFERENCES campaigns (id),
    created_by TEXT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    -- JSON of what the commit answered.
    result TEXT NOT NULL
);
