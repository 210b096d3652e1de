DROP TABLE assignment_commits;
DROP TABLE campaign_tasks;
DROP TABLE volunteer_profiles;
DROP TABLE candidates;
DROP TABLE quotas;
DROP TABLE campaigns;
DROP TABLE categories;
