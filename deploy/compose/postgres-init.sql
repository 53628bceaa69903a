-- One database per service: no service reads another service's tables.
CREATE DATABASE ingest;
CREATE DATABASE router;
CREATE DATABASE caseview;
CREATE DATABASE outbound;
CREATE DATABASE notifications;
