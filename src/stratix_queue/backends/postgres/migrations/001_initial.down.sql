DROP TABLE queue_groups;
DROP TABLE queue_failures;
DROP TABLE queue_success;
DROP TABLE queue_jobs;
