-- One flush of an upload writes one blob holding every signal stream's new bytes (PCG, then ECG,
-- then R peaks); each stream's part row names its byte range in that blob. NULL: the part is the
-- whole blob (parts written before this migration).
ALTER TABLE recording_parts ADD COLUMN byte_offset INTEGER;
ALTER TABLE recording_parts ADD COLUMN byte_len INTEGER;
