-- The W3C trace context of the request that enqueued a job (app/src/jobs/worker.rs): the
-- job's span continues that trace, as a child of the request's span.
ALTER TABLE jobs ADD COLUMN traceparent TEXT;
