-- The schema duban 0.1.0 (revision 0001, before Alembic) created on postgresql.
-- Generated from tracking/models.py at commit 16740f6 with CreateTable/CreateIndex.

CREATE TABLE chasepause (
	id SERIAL NOT NULL,
	paused BOOLEAN NOT NULL,
	reason TEXT NOT NULL,
	changed_by VARCHAR(128) NOT NULL,
	changed_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id)
);

CREATE TABLE event (
	id SERIAL NOT NULL,
	at TIMESTAMP WITH TIME ZONE NOT NULL,
	actor VARCHAR(128) NOT NULL,
	action VARCHAR(64) NOT NULL,
	entity VARCHAR(32) NOT NULL,
	entity_id INTEGER,
	before JSON,
	after JSON,
	reason TEXT NOT NULL,
	PRIMARY KEY (id)
);

CREATE INDEX ix_event_at ON event (at);

CREATE TABLE proposal (
	id SERIAL NOT NULL,
	year INTEGER NOT NULL,
	category VARCHAR(16) NOT NULL,
	number VARCHAR(32) NOT NULL,
	lead_representative VARCHAR(64) NOT NULL,
	signer_count INTEGER,
	title TEXT NOT NULL,
	handling_type VARCHAR(16) NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (year, category, number)
);

CREATE INDEX ix_proposal_year ON proposal (year);

CREATE TABLE unit (
	id SERIAL NOT NULL,
	name VARCHAR(128) NOT NULL,
	aliases JSON NOT NULL,
	emails JSON NOT NULL,
	deputy_email VARCHAR(254),
	head_email VARCHAR(254),
	webhook JSON,
	snoozed_until DATE,
	snooze_reason TEXT NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (name)
);

CREATE TABLE followupitem (
	id SERIAL NOT NULL,
	proposal_id INTEGER NOT NULL,
	ordinal INTEGER NOT NULL,
	position INTEGER NOT NULL,
	commitment TEXT NOT NULL,
	status VARCHAR(16) NOT NULL,
	due_date DATE,
	assigned_on DATE,
	reply_class VARCHAR(8),
	replied_on DATE,
	rating VARCHAR(8),
	rated_on DATE,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	closed_at TIMESTAMP WITH TIME ZONE,
	closed_on DATE,
	final_text TEXT,
	PRIMARY KEY (id),
	UNIQUE (proposal_id, ordinal),
	FOREIGN KEY(proposal_id) REFERENCES proposal (id)
);

CREATE INDEX ix_followupitem_proposal_id ON followupitem (proposal_id);

CREATE INDEX ix_followupitem_status ON followupitem (status);

CREATE TABLE notification (
	id SERIAL NOT NULL,
	unit_id INTEGER,
	channel VARCHAR(16) NOT NULL,
	kind VARCHAR(32) NOT NULL,
	dedupe_key VARCHAR(200) NOT NULL,
	recipients JSON NOT NULL,
	subject TEXT NOT NULL,
	body_text TEXT NOT NULL,
	body_html TEXT NOT NULL,
	audience VARCHAR(16) NOT NULL,
	fallback_of INTEGER,
	status VARCHAR(16) NOT NULL,
	attempts INTEGER NOT NULL,
	permanent_failure BOOLEAN NOT NULL,
	last_error TEXT NOT NULL,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	last_attempt_at TIMESTAMP WITH TIME ZONE,
	claimed_until TIMESTAMP WITH TIME ZONE,
	sent_at TIMESTAMP WITH TIME ZONE,
	PRIMARY KEY (id),
	FOREIGN KEY(unit_id) REFERENCES unit (id),
	UNIQUE (dedupe_key),
	FOREIGN KEY(fallback_of) REFERENCES notification (id)
);

CREATE INDEX ix_notification_status ON notification (status);

CREATE INDEX ix_notification_unit_id ON notification (unit_id);

CREATE TABLE assignment (
	id SERIAL NOT NULL,
	item_id INTEGER NOT NULL,
	unit_id INTEGER NOT NULL,
	role VARCHAR(8) NOT NULL,
	status VARCHAR(16) NOT NULL,
	due_date DATE,
	last_reported_on DATE,
	closed_on DATE,
	PRIMARY KEY (id),
	UNIQUE (item_id, unit_id),
	FOREIGN KEY(item_id) REFERENCES followupitem (id),
	FOREIGN KEY(unit_id) REFERENCES unit (id)
);

CREATE INDEX ix_assignment_item_id ON assignment (item_id);

CREATE INDEX ix_assignment_unit_id ON assignment (unit_id);

CREATE TABLE extension (
	id SERIAL NOT NULL,
	item_id INTEGER NOT NULL,
	months INTEGER NOT NULL,
	reason TEXT NOT NULL,
	approved_by VARCHAR(128) NOT NULL,
	approved_on DATE NOT NULL,
	recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(item_id) REFERENCES followupitem (id)
);

CREATE INDEX ix_extension_item_id ON extension (item_id);

CREATE TABLE progressupdate (
	id SERIAL NOT NULL,
	item_id INTEGER NOT NULL,
	unit_id INTEGER NOT NULL,
	text TEXT NOT NULL,
	kind VARCHAR(16) NOT NULL,
	reported_on DATE NOT NULL,
	reported_by VARCHAR(128) NOT NULL,
	source VARCHAR(16) NOT NULL,
	recorded_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	FOREIGN KEY(item_id) REFERENCES followupitem (id),
	FOREIGN KEY(unit_id) REFERENCES unit (id)
);

CREATE INDEX ix_progressupdate_item_id ON progressupdate (item_id);

CREATE INDEX ix_progressupdate_unit_id ON progressupdate (unit_id);

CREATE TABLE reminderlog (
	id SERIAL NOT NULL,
	run_on DATE NOT NULL,
	assignment_id INTEGER NOT NULL,
	unit_id INTEGER NOT NULL,
	item_id INTEGER NOT NULL,
	obligation VARCHAR(24) NOT NULL,
	due DATE NOT NULL,
	stage VARCHAR(24) NOT NULL,
	audience VARCHAR(16) NOT NULL,
	decision VARCHAR(16) NOT NULL,
	rule TEXT NOT NULL,
	notification_id INTEGER,
	created_at TIMESTAMP WITH TIME ZONE NOT NULL,
	PRIMARY KEY (id),
	UNIQUE (run_on, assignment_id, obligation, due, stage, decision, audience),
	FOREIGN KEY(unit_id) REFERENCES unit (id),
	FOREIGN KEY(item_id) REFERENCES followupitem (id),
	FOREIGN KEY(notification_id) REFERENCES notification (id)
);

CREATE INDEX ix_reminderlog_assignment_id ON reminderlog (assignment_id);

CREATE INDEX ix_reminderlog_item_id ON reminderlog (item_id);

CREATE INDEX ix_reminderlog_run_on ON reminderlog (run_on);

CREATE INDEX ix_reminderlog_unit_id ON reminderlog (unit_id);
