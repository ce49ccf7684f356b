-- Residents' address and phone, as a town hall's roster keeps them (bulk enrolment from CSV).
ALTER TABLE program_residents ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE program_residents ADD COLUMN phone TEXT NOT NULL DEFAULT '';
