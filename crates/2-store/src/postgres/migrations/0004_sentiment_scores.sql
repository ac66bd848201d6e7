-- Version 4: sentiment scores cached by comment (issue 18), so that a digest or burnout run
-- scores each comment once. Keyed by the identity of the model that produced the score: a new
-- model finds nothing under its own identity and scores afresh.
CREATE TABLE sentiment_scores (
    model text NOT NULL,
    repo text NOT NULL,
    event_id text NOT NULL,
    negative double precision NOT NULL,
    uncivil boolean NOT NULL,
    PRIMARY KEY (model, repo, event_id)
);
