-- Voordeur device database, version 6: a visit's answers kept with the visit.
-- One JSON object per visit (`visits.answers`, item -> value) instead of one row per
-- answer: a visit's answers are always read together (the visit screen, the required
-- items check) and mostly written together (a completed visit arrives with all of them).
ALTER TABLE visits ADD COLUMN answers TEXT NOT NULL DEFAULT '{}';

UPDATE visits
SET answers = (SELECT json_group_object(a.item, json(a.value))
               FROM answers a WHERE a.visit_id = visits.id)
WHERE id IN (SELECT visit_id FROM answers);

DROP TABLE answers;
